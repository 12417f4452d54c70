"""What every runbook must contain: its sections, the parts of a common issue, and the
brief's failure modes per pipeline, each with the anchor pages and DAG docs link to.

The failure classes escalation can report come from `techflow_ops.failures`; the brief's
failure modes are listed here once. A pipeline the catalogue does not know (added to the
registry later) still has to cover its failure classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..failures import failure_classes_for


@dataclass(frozen=True)
class RequiredSection:
    anchor: str
    title: str
    block: str | None  # the generated block that must sit inside it


REQUIRED_SECTIONS: tuple[RequiredSection, ...] = (
    RequiredSection("pipeline-details", "Pipeline details", "details"),
    RequiredSection("data", "Data", "contracts"),
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
        FailureMode("growth-below-threshold", "Growth below threshold"),  # the runbook's monitoring line
    ),
    "engagement": (
        FailureMode("late-events", "Late events"),
        FailureMode("kafka-outage", "Kafka outage"),
        FailureMode("duplicate-events", "Duplicate events"),
        FailureMode("invalid-events", "Invalid events"),
        FailureMode("consumer-lag", "Consumer lag"),
    ),
    # "investor-report completeness 100 %" (SLA, success metrics)
    "executive_investor": (*_AGGREGATE_MODES, FailureMode("incomplete-report", "Incomplete report")),
    "experiment_team": _AGGREGATE_MODES,
}


#: The common issue a quality check's failure is diagnosed in, by (dataset, check name);
#: any other check of a pipeline's suites goes to its "Data quality failure" section.
CHECK_SECTIONS: dict[tuple[str, str], str] = {
    ("stg_revenue", "revenue_matches_ledger"): "revenue-mismatch",
    ("stg_revenue", "every_active_account_billed"): "revenue-mismatch",
    ("profit_monthly", "revenue_vs_ledger_within_tolerance"): "revenue-mismatch",
    ("stg_ledger", "partition_landed"): "revenue-mismatch",
    ("stg_revenue", "revenue_drop_vs_previous_month"): "revenue-drop",
    ("stg_revenue", "paying_accounts_have_subscribers"): "zero-subscribers",
    ("profit_daily_account", "unit_profit_finite"): "zero-subscribers",
    ("profit_monthly", "unit_profit_finite"): "zero-subscribers",
    ("stg_expenses", "partition_landed"): "missing-expenses",
    ("stg_expenses", "has_rows"): "missing-expenses",
    ("stg_expenses", "row_count_vs_history"): "expense-spike",
    ("stg_expenses", "account_category_month_unique"): "expense-spike",
    ("stg_expenses", "no_expense_spike"): "expense-spike",
    ("stg_salaries", "team_month_unique"): "salary-duplicates",
    ("stg_account_status_changes", "no_skipped_status_step"): "missing-status-step",
    ("stg_account_status_changes", "account_id_not_null"): "missing-account-status",
    ("stg_account_status_changes", "new_status_not_null"): "missing-account-status",
    ("stg_account_status_changes", "no_rejected_records"): "missing-account-status",
    ("stg_account_status_changes", "partition_landed"): "time-series-gaps",
    ("stg_account_status_changes", "fresh_within_sla"): "time-series-gaps",
    ("growth_daily", "has_rows"): "time-series-gaps",
    ("growth_daily", "row_count_vs_history"): "time-series-gaps",
    ("stg_license_changes", "account_day_unique"): "license-mismatch",
    ("stg_license_changes", "license_counts_continuous"): "license-mismatch",
    ("growth_weekly", "net_account_growth_above_threshold"): "growth-below-threshold",
    ("growth_monthly", "every_billed_account_has_status"): "missing-account-status",
    ("stg_license_changes", "partition_landed"): "time-series-gaps",
    ("stg_click_events", "every_hour_present"): "kafka-outage",
    ("stg_click_events", "has_rows"): "kafka-outage",
    ("stg_click_events", "event_unique"): "duplicate-events",
    ("stg_click_events", "duplicate_share_under_threshold"): "duplicate-events",
    ("stg_click_events", "late_events_under_threshold"): "late-events",
    ("stg_click_events", "valid_share"): "invalid-events",
    ("stg_click_events", "no_rejected_lines"): "invalid-events",
    ("stg_click_events", "consumer_lag_under_threshold"): "consumer-lag",
    ("stg_click_events", "latest_consumer_lag_under_threshold"): "consumer-lag",
    ("stg_click_events", "user_id_not_null"): "invalid-events",
    ("stg_click_events", "event_ts_not_null"): "invalid-events",
    ("stg_click_events", "event_ts_fresh"): "consumer-lag",
    ("stg_click_events", "row_count_vs_history"): "consumer-lag",
    ("investor_monthly", "profit_margin_finite"): "divide-by-zero-and-missing-values",
    ("investor_monthly", "avg_daily_active_users_finite"): "divide-by-zero-and-missing-values",
    ("investor_monthly", "month_unique"): "wrong-aggregates",
    **{(table, check): section for table in ("executive_weekly", "investor_monthly") for check, section in (
        ("totals_match_inputs", "wrong-aggregates"), ("metrics_in_range", "wrong-aggregates"),
        ("covers_every_day_so_far", "incomplete-report"))},
    ("experiment_daily_unit", "unit_profit_finite"): "divide-by-zero-and-missing-values",
    ("experiment_daily_unit", "account_id_not_null"): "divide-by-zero-and-missing-values",
    ("experiment_daily_unit", "account_day_unique"): "wrong-aggregates",
}
DATA_QUALITY_SECTION = "data-quality-failure"


def check_section(dataset: str, check_name: str) -> str:
    """The runbook anchor to diagnose a failed quality check in (pages and the UI link to it)."""
    return CHECK_SECTIONS.get((dataset, check_name), DATA_QUALITY_SECTION)


def required_issues(pipeline) -> list[tuple[str, str]]:
    """(anchor, why) for every common-issue section the pipeline's runbook must have."""
    required: dict[str, str] = {}
    for failure_class in failure_classes_for(pipeline):
        required.setdefault(failure_class.anchor, f"failure class '{failure_class.value}' that escalation can report")
    for mode in BRIEF_FAILURE_MODES.get(pipeline.id, ()):
        required.setdefault(mode.anchor, f"the brief's failure mode '{mode.title}'")
    return list(required.items())
