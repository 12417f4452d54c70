"""What every runbook must contain: its sections, the parts of a common issue, and the
brief's failure modes per pipeline, each with the anchor pages and DAG docs link to.

The failure classes escalation can report come from `techflow_ops.failures`; the brief's
failure modes are listed here once. A pipeline the catalogue does not know (added to the
registry later) still has to cover its failure classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..failures import FailureClass, failure_classes_for


@dataclass(frozen=True)
class RequiredSection:
    anchor: str
    title: str
    block: str | None  # the generated block that must sit inside it


REQUIRED_SECTIONS: tuple[RequiredSection, ...] = (
    RequiredSection("pipeline-details", "Pipeline details", "details"),
    RequiredSection("data", "Data", None),
    RequiredSection("sla", "SLA", "sla"),
    RequiredSection("monitoring-and-alerting", "Monitoring and alerting", "monitoring"),
    RequiredSection("common-issues", "Common issues", None),
    RequiredSection("escalation-path", "Escalation path", "escalation"),
)

COMMON_ISSUES = "common-issues"

#: The bold labels every common issue (a `###` under "Common issues") starts its parts with.
ISSUE_PARTS: tuple[str, ...] = ("Symptom", "Detection", "Diagnosis", "Fix", "Backfill / re-run", "Escalate")


@dataclass(frozen=True)
class FailureMode:
    anchor: str
    title: str


_AGGREGATE_MODES = (
    FailureMode("out-of-memory", "Out of memory"),  # Spark / worker out of memory on large joins
    FailureMode("stale-upstream", "Stale upstream"),
    FailureMode("divide-by-zero-and-missing-values", "Divide-by-zero and missing values"),
    FailureMode("wrong-aggregates", "Wrong aggregates"),
)

#: The brief's known failure modes, per pipeline id.
BRIEF_FAILURE_MODES: dict[str, tuple[FailureMode, ...]] = {
    "profit": (
        FailureMode("revenue-mismatch", "Revenue mismatch"),
        FailureMode("missing-expenses", "Missing expenses"),
        FailureMode("salary-duplicates", "Salary duplicates"),
        FailureMode("revenue-drop", "Revenue drop"),
        FailureMode("expense-spike", "Expense spike"),
        FailureMode("zero-subscribers", "Zero subscribers"),
    ),
    "growth": (
        FailureMode("missing-account-status", "Missing account status"),
        FailureMode("missing-status-step", "Missing status step"),
        FailureMode("time-series-gaps", "Time-series gaps"),
        FailureMode("license-mismatch", "License mismatch"),
    ),
    "engagement": (
        FailureMode("late-events", "Late events"),
        FailureMode("kafka-outage", "Kafka outage"),
        FailureMode("duplicate-events", "Duplicate events"),
        FailureMode("invalid-events", "Invalid events"),
        FailureMode("consumer-lag", "Consumer lag"),
    ),
    "executive_investor": _AGGREGATE_MODES,
    "experiment_team": _AGGREGATE_MODES,
}


def required_issues(pipeline) -> list[tuple[str, str]]:
    """(anchor, why) for every common-issue section the pipeline's runbook must have."""
    required: dict[str, str] = {}
    for failure_class in failure_classes_for(pipeline):
        required.setdefault(failure_class.anchor, f"failure class '{failure_class.value}' that escalation can report")
    for mode in BRIEF_FAILURE_MODES.get(pipeline.id, ()):
        required.setdefault(mode.anchor, f"the brief's failure mode '{mode.title}'")
    return list(required.items())


def failure_class_titles() -> dict[str, str]:
    return {fc.anchor: fc.title for fc in FailureClass}
