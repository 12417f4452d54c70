"""The suites: which checks run on which dataset, with which severity.

Table and column names come from `techflow_ops.pipelines.warehouse`; SLA values and
quality targets from the registry (`freshness_sla`, `targets`). Staging tables are
validated after ingest on their landing partition; outputs before they are published.

Query placeholders (see `checks.Check.query`): `{rows}` is the partition being validated
as a derived table (`FROM {rows} AS b`), `{start}`/`{end}` its bounds, `{threshold}` the
check's threshold, `{fresh_cutoff}` the partition's end minus the pipeline's freshness
SLA (`{sla_days}` whole days), `{previous_start}` the start of the previous partition and
`{not_finite:COLUMN}` the dialect's NULL/NaN/infinity test (`techflow_ops.quality.sql`).
"""

from __future__ import annotations

from .checks import Category, Check, DatasetSuite, Grain, Kind, Severity

C, W = Severity.critical, Severity.warning

#: Status transitions the business allows; anything else means a step is missing.
#: Mirrors the simulation in `pipelines.synthetic` and the Growth runbook.
ALLOWED_STATUS_TRANSITIONS = (("Trial", "Active"), ("Trial", "Expired"), ("Active", "Churned"))


def _not_null(*columns: str) -> tuple[Check, ...]:
    return tuple(
        Check(f"{column}_not_null", Kind.not_null, Category.missing, C, f"{column} is never NULL", (column,))
        for column in columns
    )


def _rows(mode: str | None = None) -> tuple[Check, ...]:
    return (
        Check("has_rows", Kind.row_count, Category.missing, C, "the partition holds at least one row", mode=mode),
        Check("row_count_vs_history", Kind.row_count, Category.missing, W,
              "row count within bounds of the previous runs' median (a sudden drop or spike)", mode=mode),
    )


def _sparse_fresh(source: str) -> Check:
    """Sources with few records a day (status changes, ...) may have quiet days; stale means
    every partition landed during the pipeline's whole freshness SLA was empty."""
    return Check(
        "fresh_within_sla", Kind.rows_query, Category.stale, C,
        "records arrived within the pipeline's freshness SLA before the end of the run's partition",
        query="SELECT COUNT(DISTINCT partition_date) AS empty_days_landed FROM landing_partitions "
              "WHERE source = '" + source + "' AND present AND partition_date >= {fresh_cutoff} "
              "AND partition_date < {end} HAVING COUNT(DISTINCT partition_date) >= {sla_days} "
              "AND SUM(rows_loaded) = 0",
    )


def _landed(source: str) -> Check:
    return Check(
        "partition_landed", Kind.rows_query, Category.missing, C, "the source's landing partition arrived",
        query="SELECT partition_date, partition_key FROM landing_partitions WHERE source = '" + source + "' "
              "AND partition_date >= {start} AND partition_date < {end} AND NOT present",
    )


def _unique(name: str, *columns: str, severity: Severity = C) -> Check:
    return Check(name, Kind.unique, Category.duplicate, severity, f"no two rows share ({', '.join(columns)})", columns)


def _fresh(column: str) -> Check:
    return Check(f"{column}_fresh", Kind.fresh, Category.stale, C,
                 f"newest {column} within the pipeline's freshness SLA of the run's data interval", (column,))


def _rejected_keys(source: str) -> Check:
    return Check(
        "no_rejected_keys", Kind.rows_query, Category.missing, C,
        "no landed record was rejected for a missing key (its row would be missing from the table)",
        query=(
            "SELECT location, reason FROM rejects WHERE source = '" + source + "' "
            "AND partition_date >= {start} AND partition_date < {end} AND reason LIKE 'missing required field%'"
        ),
    )


def _valid_share(source: str) -> Check:
    return Check(
        "valid_share", Kind.rows_query, Category.domain, W,
        "landed lines that could not be loaded (bad JSON, wrong type, missing field) stay under the valid-rows target",
        target="valid_events", threshold=0.999,
        query="SELECT rejected, loaded FROM (SELECT (SELECT COUNT(*) FROM rejects WHERE source = '" + source + "' "
              "AND partition_date >= {start} AND partition_date < {end}) AS rejected, "
              "(SELECT COUNT(*) FROM {rows} AS b) AS loaded) AS t WHERE rejected > (1 - {threshold}) * (rejected + loaded)",
    )


def _finite(column: str, where: str = "1 = 1", severity: Severity = C) -> Check:
    return Check(
        f"{column}_finite", Kind.rows_query, Category.domain, severity,
        f"{column} is never NULL, NaN or infinite where it is defined (divide-by-zero guard)",
        query="SELECT * FROM {rows} AS b WHERE " + where + " AND {not_finite:" + column + "}",
        mode="missing_values",
    )


CLICK_EVENTS = DatasetSuite(
    "stg_click_events", "engagement", "partition_date", Grain.daily, (
        *_not_null("event_id", "user_id", "account_id", "event_ts"),
        *_rows(mode="kafka_outage"),
        _rejected_keys("click_events"), _valid_share("click_events"),
        Check("every_hour_present", Kind.rows_query, Category.missing, C,
              "each of the 24 hourly Kafka partitions of the day landed", mode="kafka_outage",
              query="WITH hours(hour) AS (VALUES " + ", ".join(f"({h})" for h in range(24)) + ") "
                    "SELECT hour AS missing_hour FROM hours WHERE hour NOT IN (SELECT CAST(partition_key AS INTEGER) "
                    "FROM landing_partitions WHERE source = 'click_events' AND present "
                    "AND partition_date >= {start} AND partition_date < {end})"),
        _unique("event_id_unique", "event_id"),
        _fresh("event_ts"),
        Check("late_events_under_threshold", Kind.rows_query, Category.domain, W,
              "events arriving > 48 h after they happened stay under the late-events target",
              target="late_events_max", threshold=0.001, mode="late_events",
              query="SELECT late_events, all_events FROM (SELECT SUM(CASE WHEN is_late THEN 1 ELSE 0 END) AS late_events, "
                    "COUNT(*) AS all_events FROM {rows} AS b) AS t WHERE late_events > {threshold} * all_events"),
    ), min_row_ratio=0.2, max_row_ratio=5.0,
    category_modes=((Category.missing, "invalid_events"), (Category.duplicate, "duplicate_events"),
                    (Category.domain, "invalid_events")),
)

USAGE_SESSIONS = DatasetSuite(
    "stg_usage_sessions", "engagement", "partition_date", Grain.daily, (
        *_not_null("session_id", "user_id", "account_id"), *_rows(), _rejected_keys("usage_sessions"), _landed("usage_sessions"), _valid_share("usage_sessions"),
        _unique("session_id_unique", "session_id"), _fresh("session_end"),
    ), min_row_ratio=0.2, max_row_ratio=5.0,
)

TEAM_ACTIVITY = DatasetSuite(
    "stg_team_activity", "engagement", "partition_date", Grain.daily, (
        *_not_null("account_id", "activity_date"), *_rows(), _rejected_keys("team_activity"), _landed("team_activity"), _valid_share("team_activity"),
        _unique("account_day_unique", "account_id", "activity_date"),
    ), min_row_ratio=0.2, max_row_ratio=5.0,
)

REVENUE = DatasetSuite(
    "stg_revenue", "profit", "partition_date", Grain.monthly, (
        *_not_null("account_id", "total_monthly_revenue"), *_rows(), _rejected_keys("revenue"), _landed("revenue"), _valid_share("revenue"),
        _unique("account_month_unique", "account_id", "billing_date"),
        Check("every_active_account_billed", Kind.rows_query, Category.missing, C,
              "every account in Trial or Active on some day of the month (after that day's changes) has a "
              "revenue row (100 % completeness)", mode="incomplete_revenue",
              query="SELECT DISTINCT c.account_id FROM stg_account_status_changes c "
                    "WHERE c.change_date < {end} AND c.new_status IN ('Trial', 'Active') "
                    "AND NOT EXISTS (SELECT 1 FROM stg_account_status_changes x WHERE x.account_id = c.account_id "
                    "AND x.change_date <= {start} AND x.new_status IN ('Churned', 'Expired')) "
                    "AND c.account_id NOT IN (SELECT account_id FROM {rows} AS b)"),
        Check("revenue_matches_ledger", Kind.rows_query, Category.domain, C,
              "billed revenue reconciles with the accounting ledger within the tolerance",
              target="revenue_reconciliation_tolerance", threshold=0.01, mode="revenue_mismatch",
              query="SELECT billed, ledger FROM (SELECT (SELECT SUM(total_monthly_revenue) FROM {rows} AS b) AS billed, "
                    "(SELECT SUM(recognized_revenue) FROM stg_ledger WHERE partition_date >= {start} "
                    "AND partition_date < {end}) AS ledger) AS t "
                    "WHERE ledger IS NULL OR billed IS NULL OR ABS(billed - ledger) > {threshold} * ABS(ledger)"),
        Check("paying_accounts_have_subscribers", Kind.rows_query, Category.domain, W,
              "no paying account is billed for zero user licenses (unit profit would divide by zero)",
              mode="missing_values",
              query="SELECT account_id, subscription_tier, user_licenses FROM {rows} AS b "
                    "WHERE user_licenses <= 0 AND subscription_tier <> 'Trial'"),
        Check("revenue_drop_vs_previous_month", Kind.rows_query, Category.domain, W,
              "total revenue did not drop more than the threshold against the previous month",
              target="revenue_drop_threshold", threshold=0.10, mode="revenue_drop",
              query="SELECT this_month, previous_month FROM (SELECT (SELECT SUM(total_monthly_revenue) FROM {rows} AS b) "
                    "AS this_month, (SELECT SUM(total_monthly_revenue) FROM stg_revenue WHERE partition_date >= "
                    "{previous_start} AND partition_date < {start}) AS previous_month) AS t "
                    "WHERE previous_month > 0 AND this_month < (1 - {threshold}) * previous_month"),
    ), min_row_ratio=0.5, max_row_ratio=2.0,
)

LEDGER = DatasetSuite(
    "stg_ledger", "profit", "partition_date", Grain.monthly, (
        *_not_null("entry_id", "account_id"), *_rows(), _rejected_keys("ledger"), _landed("ledger"), _valid_share("ledger"), _unique("entry_id_unique", "entry_id"),
    ),
)

EXPENSES = DatasetSuite(
    "stg_expenses", "profit", "partition_date", Grain.monthly, (
        *_not_null("expense_id", "monthly_cost"), *_rows(), _rejected_keys("expenses"), _landed("expenses"), _valid_share("expenses"),
        _unique("expense_id_unique", "expense_id"),
    ), category_modes=((Category.missing, "missing_expenses"),),
)

SALARIES = DatasetSuite(
    "stg_salaries", "profit", "partition_date", Grain.monthly, (
        *_not_null("team_id", "monthly_salary_total"), *_rows(), _rejected_keys("salaries"), _landed("salaries"), _valid_share("salaries"),
        _unique("team_month_unique", "team_id", "salary_month"),
    ), category_modes=((Category.duplicate, "salary_duplicates"),),
)

_TRANSITIONS = " OR ".join(f"(previous_status = '{a}' AND new_status = '{b}')" for a, b in ALLOWED_STATUS_TRANSITIONS)

ACCOUNT_STATUS_CHANGES = DatasetSuite(
    "stg_account_status_changes", "growth", "partition_date", Grain.daily, (
        *_not_null("account_id", "new_status"), _sparse_fresh("account_status_changes"), _rejected_keys("account_status_changes"), _landed("account_status_changes"), _valid_share("account_status_changes"),
        _unique("account_day_status_unique", "account_id", "change_date", "new_status"),
        Check("no_skipped_status_step", Kind.rows_query, Category.domain, C,
              "each status change starts from the account's last known status by an allowed step",
              mode="missing_status_step",
              query="SELECT account_id, previous_status, new_status, change_date, last_known FROM ("
                    "SELECT b.account_id, b.previous_status, b.new_status, b.change_date, "
                    "(SELECT p.new_status FROM stg_account_status_changes p WHERE p.account_id = b.account_id "
                    "AND p.change_date < b.change_date ORDER BY p.change_date DESC LIMIT 1) AS last_known "
                    "FROM {rows} AS b) AS t WHERE NOT ((previous_status IS NULL AND new_status = 'Trial' "
                    "AND last_known IS NULL) OR ((" + _TRANSITIONS + ") "
                    "AND (last_known IS NULL OR last_known = previous_status)))"),
    ),
)

LICENSE_CHANGES = DatasetSuite(
    "stg_license_changes", "growth", "partition_date", Grain.daily, (
        *_not_null("account_id"), _sparse_fresh("license_changes"), _rejected_keys("license_changes"), _landed("license_changes"), _valid_share("license_changes"),
        _unique("account_day_unique", "account_id", "change_date"),
    ),
)

RENEWALS = DatasetSuite(
    "stg_renewals", "growth", "partition_date", Grain.daily, (
        *_not_null("account_id"), _sparse_fresh("renewals"), _rejected_keys("renewals"), _landed("renewals"), _valid_share("renewals"),
        _unique("account_day_unique", "account_id", "renewal_date"),
    ),
)

PROFIT_DAILY_ACCOUNT = DatasetSuite(
    "profit_daily_account", "profit", "date", Grain.daily, (
        *_not_null("account_id", "profit"), *_rows(), _unique("account_day_unique", "account_id", "date"),
        _finite("unit_profit", where="subscribers > 0"),
    ), role="output",
)

PROFIT_MONTHLY = DatasetSuite(
    "profit_monthly", "profit", "month", Grain.monthly, (
        *_rows(), _unique("month_unique", "month"),
        Check("revenue_vs_ledger_within_tolerance", Kind.rows_query, Category.domain, C,
              "published revenue reconciles with the ledger within the tolerance",
              target="revenue_reconciliation_tolerance", threshold=0.01, mode="revenue_mismatch",
              query="SELECT month, revenue, ledger_revenue, revenue_vs_ledger FROM {rows} AS b "
                    "WHERE ABS(revenue - ledger_revenue) > {threshold} * ABS(ledger_revenue)"),
        _finite("unit_profit", where="subscribers > 0"),
    ), role="output",
)

GROWTH_DAILY = DatasetSuite(
    "growth_daily", "growth", "date", Grain.daily, (*_rows(), _unique("day_unique", "date")), role="output",
    category_modes=((Category.missing, "time_series_gap"),),
)

ENGAGEMENT_DAILY = DatasetSuite(
    "engagement_daily", "engagement", "date", Grain.daily, (
        *_not_null("account_id"), *_rows(), _unique("account_day_unique", "account_id", "date"),
    ), role="output", min_row_ratio=0.2, max_row_ratio=5.0,
)

INVESTOR_MONTHLY = DatasetSuite(
    "investor_monthly", "executive_investor", "month", Grain.monthly, (
        *_rows(), _unique("month_unique", "month"),
        _finite("profit_margin", where="revenue <> 0"), _finite("avg_daily_active_users"),
    ), role="output", category_modes=((Category.duplicate, "wrong_aggregates"), (Category.domain, "wrong_aggregates")),
)

EXPERIMENT_DAILY_UNIT = DatasetSuite(
    "experiment_daily_unit", "experiment_team", "date", Grain.daily, (
        *_not_null("account_id"), *_rows(), _unique("account_day_unique", "account_id", "date"),
        _finite("unit_profit", where="subscribers > 0"),
    ), role="output",
)

def _period_output(table: str, pipeline_id: str, column: str, grain: Grain, *extra: Check,
                   category_modes: tuple = ()) -> DatasetSuite:
    """A weekly/monthly aggregate: one row per period, rewritten by every daily run."""
    return DatasetSuite(table, pipeline_id, column, grain, (*_rows(), _unique("period_unique", column), *extra),
                        role="output", category_modes=category_modes)


GROWTH_WEEKLY = _period_output("growth_weekly", "growth", "week_start", Grain.weekly)
GROWTH_MONTHLY = _period_output("growth_monthly", "growth", "month", Grain.monthly)
ENGAGEMENT_WEEKLY = _period_output("engagement_weekly", "engagement", "week_start", Grain.weekly,
                                   _finite("avg_session_minutes", where="session_minutes > 0"))
ENGAGEMENT_MONTHLY = _period_output("engagement_monthly", "engagement", "month", Grain.monthly,
                                    _finite("avg_session_minutes", where="session_minutes > 0"))
EXECUTIVE_WEEKLY = _period_output("executive_weekly", "executive_investor", "week_start", Grain.weekly,
                                  _finite("profit_margin", where="revenue <> 0"), _finite("avg_daily_active_users"),
                                  category_modes=((Category.duplicate, "wrong_aggregates"),))

SUITES: dict[str, DatasetSuite] = {
    suite.dataset: suite
    for suite in (
        CLICK_EVENTS, USAGE_SESSIONS, TEAM_ACTIVITY, REVENUE, LEDGER, EXPENSES, SALARIES,
        ACCOUNT_STATUS_CHANGES, LICENSE_CHANGES, RENEWALS,
        PROFIT_DAILY_ACCOUNT, PROFIT_MONTHLY, GROWTH_DAILY, GROWTH_WEEKLY, GROWTH_MONTHLY,
        ENGAGEMENT_DAILY, ENGAGEMENT_WEEKLY, ENGAGEMENT_MONTHLY, EXECUTIVE_WEEKLY, INVESTOR_MONTHLY, EXPERIMENT_DAILY_UNIT,
    )
}


def failure_mode(results) -> str:
    """The failure mode of failed validations: that of the first failed critical check."""
    for result in results:
        for outcome in result.failed_critical:
            return SUITES[result.dataset].mode_of(outcome.check)
    return "data_quality"


def suites_for(pipeline_id: str, role: str | None = None) -> list[DatasetSuite]:
    return [s for s in SUITES.values() if s.pipeline_id == pipeline_id and (role is None or s.role == role)]


def suite_for_source(source: str) -> DatasetSuite:
    return SUITES[f"stg_{source}"]
