"""What can go wrong, named once: failure classes shared by pipelines, quality checks,
escalation (classification, runbook links) and the runbook check.

Tasks raise these exceptions to say *what kind* of failure happened; the escalation
callbacks read `failure_class` instead of guessing from the message.
"""

from __future__ import annotations

from enum import Enum


class FailureClass(str, Enum):
    kafka_outage = "kafka_outage"
    out_of_memory = "out_of_memory"
    stale_upstream = "stale_upstream"
    data_quality = "data_quality"
    timeout = "timeout"
    sla_miss = "sla_miss"
    task_error = "task_error"  # anything not classified more precisely

    @property
    def anchor(self) -> str:
        """The stable heading anchor of this failure's section in a pipeline runbook."""
        return RUNBOOK_ANCHORS[self]

    @property
    def title(self) -> str:
        return self.value.replace("_", " ").capitalize()


RUNBOOK_ANCHORS: dict[FailureClass, str] = {
    FailureClass.kafka_outage: "kafka-outage",
    FailureClass.out_of_memory: "out-of-memory",
    FailureClass.stale_upstream: "stale-upstream",
    FailureClass.data_quality: "data-quality-failure",
    FailureClass.timeout: "timeout",
    FailureClass.sla_miss: "sla-miss",
    FailureClass.task_error: "task-error",
}


def failure_classes_for(pipeline) -> list[FailureClass]:
    """The failure classes a pipeline can report, so its runbook must cover them."""
    classes = [FailureClass.data_quality, FailureClass.timeout, FailureClass.sla_miss, FailureClass.task_error]
    if "kafka" in pipeline.infrastructure:
        classes.append(FailureClass.kafka_outage)
    if "spark" in pipeline.infrastructure:
        classes.append(FailureClass.out_of_memory)
    if pipeline.upstream:
        classes.append(FailureClass.stale_upstream)
    return classes


class PipelineFailure(Exception):
    """A failure whose class is known; escalation routes and links by `failure_class`."""

    failure_class: FailureClass = FailureClass.task_error

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.details = details or {}


class KafkaOutage(PipelineFailure):
    failure_class = FailureClass.kafka_outage


class OutOfMemory(PipelineFailure):
    failure_class = FailureClass.out_of_memory


class StaleUpstream(PipelineFailure):
    failure_class = FailureClass.stale_upstream


class DataQualityFailure(PipelineFailure):
    failure_class = FailureClass.data_quality
