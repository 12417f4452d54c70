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
    # Reported by the watchdog (techflow_ops.watchdog), outside the scheduler:
    stale_data = "stale_data"  # a pipeline's newest published day is older than its freshness SLA allows
    platform_down = "platform_down"  # the scheduler, triggerer or escalation engine stopped (no pipeline's)

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
    FailureClass.stale_data: "stale-data",
    # Not a pipeline runbook's section: the platform's own procedure (include/runbooks/platform.md).
    FailureClass.platform_down: "platform-down",
}


def failure_classes_for(pipeline) -> list[FailureClass]:
    """The failure classes a pipeline can report, so its runbook must cover them."""
    classes = [FailureClass.data_quality, FailureClass.timeout, FailureClass.sla_miss, FailureClass.task_error,
               FailureClass.stale_data]  # the watchdog watches every pipeline's published data
    if "kafka" in pipeline.infrastructure:
        classes.append(FailureClass.kafka_outage)
    if "spark" in pipeline.infrastructure:
        classes.append(FailureClass.out_of_memory)
    if pipeline.upstream:
        classes.append(FailureClass.stale_upstream)
    return classes


#: Failure modes: what exactly went wrong, finer than the class. escalation.yaml routes by
#: mode (`routes`) and rates severity by it; quality checks and exceptions name theirs. A
#: failure with no finer mode uses its class's value as its mode.
FAILURE_MODES: dict[str, str] = {
    **{fc.value: fc.title for fc in FailureClass},
    # profit
    "revenue_mismatch": "revenue does not match the accounting filings",
    "revenue_drop": "revenue dropped more than the threshold against the previous month",
    "incomplete_revenue": "an active account has no revenue row",
    "missing_expenses": "expense records are missing",
    "salary_duplicates": "salary aggregation error (duplicate HR rows)",
    "expense_spike": "an expense amount spiked against the previous month",
    # growth
    "missing_status": "an account has no current status",
    "missing_status_step": "a status change skips an intermediate step",
    "license_mismatch": "license counts do not match the account records",
    "time_series_gap": "a gap in the daily time series",
    "growth_below_threshold": "growth fell below the expected threshold",
    # engagement
    "late_events": "click events arrive more than 48 h after they happened",
    "invalid_events": "invalid click timestamps or user ids",
    "duplicate_events": "duplicate click events",
    "kafka_outage": "Kafka outage: no events at all",
    "consumer_lag": "Kafka consumer lag over 5 minutes",
    # aggregated
    "out_of_memory": "Spark out-of-memory on a large join",
    "stale_upstream": "upstream data is stale or failed validation",
    "missing_values": "missing values or divide-by-zero in ratios",
    "wrong_aggregates": "aggregated metrics are wrong",
    "incomplete_report": "the executive or investor report does not cover every day of its period so far",
    # any pipeline (by quality category, then by failure class)
    "missing_data": "rows or partitions are missing",
    "duplicate_rows": "duplicate rows",
    "stale_data": "the newest data is older than the freshness SLA",
    "invalid_values": "values outside their valid domain",
    # the platform (the watchdog)
    "platform_down": "the Airflow scheduler, triggerer or escalation engine stopped (no heartbeat)",
}


class PipelineFailure(Exception):
    """A failure whose class is known; escalation routes and links by `failure_class`, and
    routes to business teams by `failure_mode` (a key of FAILURE_MODES)."""

    failure_class: FailureClass = FailureClass.task_error

    def __init__(self, message: str, *, details: dict | None = None, failure_mode: str | None = None):
        super().__init__(message)
        self.details = details or {}
        self.failure_mode = failure_mode or self.failure_class.value
        if self.failure_mode not in FAILURE_MODES:
            raise ValueError(f"unknown failure mode {self.failure_mode!r} (known: {sorted(FAILURE_MODES)})")


class KafkaOutage(PipelineFailure):
    failure_class = FailureClass.kafka_outage


class OutOfMemory(PipelineFailure):
    failure_class = FailureClass.out_of_memory


class StaleUpstream(PipelineFailure):
    failure_class = FailureClass.stale_upstream


class DataQualityFailure(PipelineFailure):
    failure_class = FailureClass.data_quality
