"""The suites: which checks run on which dataset, with which severity.

Table and column names come from `techflow_ops.pipelines.warehouse`; SLA values and
quality targets from the registry (`freshness_sla`, `targets`). Staging tables are
validated after ingest on their landing partition; outputs before they are published.

Query placeholders (see `checks.Check.query`): `{rows}` is the partition being validated
as a derived table (`FROM {rows} AS b`), `{start}`/`{end}` its bounds, `{threshold}` the
check's threshold, `{fresh_cutoff}` the partition's end minus the pipeline's freshness
SLA (`{sla_days}` whole days), `{previous_start}` the start of the previous partition,
`{month_start}` the first day of the partition's month, `{not_finite:COLUMN}` the dialect's
NULL/NaN/infinity test and `{days_between:LATER,EARLIER}` / `{seconds_between:LATER,EARLIER}`
the dialect's date and time differences of two columns (`techflow_ops.quality.sql`).
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


def _rejected_records(source: str) -> Check:
    """Where the brief gives no tolerance, every record counts: one rejected for any reason (a
    missing key, a wrong type such as a cost sent as text, unparsable JSON) is a row missing
    from the table."""
    return Check(
        "no_rejected_records", Kind.rows_query, Category.missing, C,
        "no landed record was rejected (missing field, wrong type, unparsable): its row would be missing from the table",
        query=(
            "SELECT location, reason FROM rejects WHERE source = '" + source + "' "
            "AND partition_date >= {start} AND partition_date < {end}"
        ),
    )


def _rejected_lines(source: str) -> Check:
    """Where the brief gives a valid-rows tolerance, a rejected line (any reason) is counted and
    warned about; only a breach of the tolerance (`valid_share`, critical there) fails the run."""
    return Check(
        "no_rejected_lines", Kind.rows_query, Category.domain, W,
        "no landed line was rejected (any reason); within the valid-rows target they are counted, not fatal",
        query=(
            "SELECT location, reason FROM rejects WHERE source = '" + source + "' "
            "AND partition_date >= {start} AND partition_date < {end}"
        ),
    )


def _valid_share(source: str, severity: Severity = W) -> Check:
    return Check(
        "valid_share", Kind.rows_query, Category.domain, severity,
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


# --- the runbooks' monitoring lines: consumer lag, expense anomalies, license counts, growth,
# --- statuses, and the executive/investor report's completeness, totals and ranges ----------

#: An hourly click-event file committed this long after its hour closed was replayed or copied
#: in by hand (a backfill), not committed by the live consumer, so it says nothing about lag.
#: A consumer really that far behind has already failed the run that came before the file:
#: its hours were missing then (`every_hour_present`, a Kafka outage).
REPLAYED_AFTER_SECONDS = 6 * 3600


def _consumer_lag() -> Check:
    """Reads the lag the ingest stored per hourly partition (`landing_partitions.consumer_lag_seconds`)."""
    return Check(
        "consumer_lag_under_threshold", Kind.rows_query, Category.stale, W,
        "every hourly file of the day was committed within the consumer-lag target (the lag the ingest measured "
        f"and stored per partition; files committed over {REPLAYED_AFTER_SECONDS // 3600} h after their hour are "
        "replays or backfills, not lag)",
        target="consumer_lag_max_seconds", threshold=300.0, mode="consumer_lag",
        query="WITH live AS (SELECT CAST(partition_key AS INTEGER) AS hour, written_at, consumer_lag_seconds AS "
              "lag_seconds FROM landing_partitions WHERE source = 'click_events' AND present "
              "AND consumer_lag_seconds IS NOT NULL AND consumer_lag_seconds <= " + str(REPLAYED_AFTER_SECONDS) + " "
              "AND partition_date >= {start} AND partition_date < {end}) "
              "SELECT hour, written_at, lag_seconds FROM live WHERE lag_seconds > {threshold}",
    )


def _latest_consumer_lag() -> Check:
    """Lag on some hours that the consumer caught up on is a warning; lag on the day's latest
    live hour means it is behind now: critical, mode `consumer_lag` (routed to Infrastructure)."""
    return Check(
        "latest_consumer_lag_under_threshold", Kind.rows_query, Category.stale, C,
        "the day's latest live hourly file was committed within the consumer-lag target: the consumer is not "
        "behind now",
        target="consumer_lag_max_seconds", threshold=300.0, mode="consumer_lag",
        query="WITH live AS (SELECT CAST(partition_key AS INTEGER) AS hour, written_at, consumer_lag_seconds AS "
              "lag_seconds FROM landing_partitions WHERE source = 'click_events' AND present "
              "AND consumer_lag_seconds IS NOT NULL AND consumer_lag_seconds <= " + str(REPLAYED_AFTER_SECONDS) + " "
              "AND partition_date >= {start} AND partition_date < {end}) "
              "SELECT hour, written_at, lag_seconds FROM live WHERE hour = (SELECT MAX(hour) FROM live) "
              "AND lag_seconds > {threshold}",
    )


def _licenses(alias: str, first: str, end: str) -> str:
    return (f"(SELECT MAX(r.user_licenses) FROM stg_revenue r WHERE r.account_id = {alias}.account_id "
            f"AND r.partition_date >= {first} AND r.partition_date < {end})")


# Costs grow with an account's licenses, so a month's cost is compared with the previous month's
# scaled by the license growth billed in between; a shrinking account is not given more room.
EXPENSE_SPIKE = Check(
    "no_expense_spike", Kind.rows_query, Category.domain, W,
    "no account's monthly cost in a category exceeds the threshold times its previous month's, per billed license "
    "(a spike in amounts, even with the same row count)",
    target="expense_spike_factor", threshold=4.0, mode="expense_spike",
    query="SELECT c.account_id, c.expense_category, c.cost, p.cost AS previous_cost, c.licenses, "
          "p.licenses AS previous_licenses FROM "
          "(SELECT x.account_id, x.expense_category, x.cost, " + _licenses("x", "{start}", "{end}") + " AS licenses "
          "FROM (SELECT account_id, expense_category, SUM(monthly_cost) AS cost FROM {rows} AS b "
          "GROUP BY account_id, expense_category) AS x) AS c, "
          "(SELECT y.account_id, y.expense_category, y.cost, " + _licenses("y", "{previous_start}", "{start}")
          + " AS licenses FROM (SELECT account_id, expense_category, SUM(monthly_cost) AS cost FROM stg_expenses "
          "WHERE partition_date >= {previous_start} AND partition_date < {start} "
          "GROUP BY account_id, expense_category) AS y) AS p "
          "WHERE p.account_id = c.account_id AND p.expense_category = c.expense_category AND p.cost > 0 AND c.cost > {threshold} * p.cost * (CASE WHEN c.licenses > p.licenses "
          "AND p.licenses > 0 THEN 1.0 * c.licenses / p.licenses ELSE 1.0 END)",
)

# The account's last known count: its previous landed change, else what it was billed for in the
# latest month before this one (a billed count of 0 is the zero-subscribers fault's, not a count).
LICENSE_COUNTS_CONTINUOUS = Check(
    "license_counts_continuous", Kind.rows_query, Category.domain, C,
    "each license change starts from the account's last known license count (its previous change, else its "
    "billed user_licenses of the previous month)",
    mode="license_mismatch",
    query="SELECT account_id, change_date, previous_licenses, new_licenses, last_known FROM ("
          "SELECT b.account_id, b.change_date, b.previous_licenses, b.new_licenses, COALESCE("
          "(SELECT p.new_licenses FROM stg_license_changes p WHERE p.account_id = b.account_id "
          "AND p.change_date < b.change_date ORDER BY p.change_date DESC LIMIT 1), "
          "(SELECT NULLIF(r.user_licenses, 0) FROM stg_revenue r WHERE r.account_id = b.account_id "
          "AND r.partition_date < {month_start} ORDER BY r.partition_date DESC LIMIT 1)) AS last_known "
          "FROM {rows} AS b) AS t WHERE last_known IS NOT NULL AND previous_licenses <> last_known",
)

# Net paying accounts won in the week (trials converted minus churned) rather than the change in
# active accounts: flows are exact per day, while a stock is only as complete as the status history.
GROWTH_ABOVE_THRESHOLD = Check(
    "net_account_growth_above_threshold", Kind.rows_query, Category.domain, W,
    "the week's net paying accounts (trials converted minus accounts churned) is not below the expected threshold",
    target="weekly_net_accounts_min", threshold=-4.0, mode="growth_below_threshold",
    query="SELECT week_start, days, converted, churned, converted - churned AS net_accounts FROM {rows} AS b "
          "WHERE converted - churned < {threshold}",
)

# Accounts already billed in the month the warehouse's status history starts may predate that
# history: their status is unknown here, not missing at the source, so they are not counted.
EVERY_BILLED_ACCOUNT_HAS_STATUS = Check(
    "every_billed_account_has_status", Kind.rows_query, Category.missing, C,
    "every account billed in the month has a status in the account system by the month's end",
    mode="missing_status",
    query="SELECT DISTINCT r.account_id FROM stg_revenue r WHERE r.partition_date >= {start} "
          "AND r.partition_date < {end} AND NOT EXISTS (SELECT 1 FROM stg_account_status_changes c "
          "WHERE c.account_id = r.account_id AND c.change_date < {end}) "
          "AND NOT EXISTS (SELECT 1 FROM stg_revenue o WHERE o.account_id = r.account_id AND o.partition_date <= "
          "(SELECT MIN(partition_date) FROM landing_partitions WHERE source = 'account_status_changes' AND present))",
)


def _differs(value: str, expected: str, tolerance: str = "0.005") -> str:
    """A float differing beyond rounding (sums are added up in another order than the transform's)."""
    return f"ABS(({value}) - ({expected})) > {tolerance} + 1e-9 * ABS({expected})"


def _nullable_differs(value: str, expected: str) -> str:
    return f"(({value}) IS NULL) <> (({expected}) IS NULL) OR {_differs(value, expected)}"


def _report_checks(column: str, engagement: str, monthly: bool) -> tuple[Check, ...]:
    """Completeness, totals re-computed from the outputs they came from, and ranges, for the
    executive (weekly) and investor (monthly) report; `engagement` is the period's engagement table."""
    period = "{start}", "{end}"
    profit = ("(SELECT COALESCE(SUM(revenue), 0) AS revenue, COALESCE(SUM(profit), 0) AS profit, "
              "COUNT(DISTINCT date) AS days FROM profit_daily_account WHERE date >= %s AND date < %s) AS p" % period)
    growth = ("(SELECT COALESCE(SUM(new_accounts), 0) AS new_accounts, COALESCE(SUM(converted), 0) AS converted, "
              "COALESCE(SUM(churned), 0) AS churned, COALESCE(SUM(license_growth), 0) AS license_growth, "
              "COUNT(*) AS days, COALESCE((SELECT l.active_accounts FROM growth_daily l WHERE l.date >= %s "
              "AND l.date < %s ORDER BY l.date DESC LIMIT 1), 0) AS active_accounts "
              "FROM growth_daily WHERE date >= %s AND date < %s) AS g" % (period + period))
    # One-row aggregates (no GROUP BY), so the comma joins below never drop or repeat the report's row.
    # No JOIN keyword: GX then stops aliasing the batch, which PostgreSQL requires.
    engaged = ("(SELECT MAX(days) AS days, MAX(active_users) AS active_users, MAX(avg_daily_active_users) "
               "AS avg_daily_active_users, MAX(session_minutes) AS session_minutes FROM " + engagement
               + f" WHERE {column} >= {{start}} AND {column} < {{end}}) AS e")
    # Investors get the month's billed figures (profit_monthly) once the month has them.
    revenue, profit_total = ("COALESCE(pm.revenue, p.revenue)", "COALESCE(pm.profit, p.profit)") if monthly \
        else ("p.revenue", "p.profit")
    billed = (", (SELECT MAX(revenue) AS revenue, MAX(profit) AS profit, MAX(unit_profit) AS unit_profit, "
              "MAX(revenue_vs_ledger) AS revenue_vs_ledger FROM profit_monthly WHERE month >= {start} "
              "AND month < {end}) AS pm") if monthly else ""
    mismatches = [
        _differs("b.revenue", revenue), _differs("b.profit", profit_total),
        "(b.revenue = 0) <> (b.profit_margin IS NULL)",
        "(b.revenue <> 0 AND " + _differs("b.profit_margin * b.revenue", "b.profit") + ")",
        "b.new_accounts <> g.new_accounts", "b.converted <> g.converted", "b.churned <> g.churned",
        "b.license_growth <> g.license_growth", "b.active_accounts <> g.active_accounts",
        "b.profit_days <> p.days", "b.growth_days <> g.days", "b.engagement_days <> COALESCE(e.days, 0)",
        "b.active_users <> COALESCE(e.active_users, 0)",
        _differs("b.avg_daily_active_users", "COALESCE(e.avg_daily_active_users, 0)", "1e-6"),
        _differs("b.session_minutes", "COALESCE(e.session_minutes, 0)"),
    ]
    if monthly:
        mismatches += [_nullable_differs("b.unit_profit", "pm.unit_profit"),
                       _nullable_differs("b.revenue_vs_ledger", "pm.revenue_vs_ledger")]
    recomputed = Check(
        "totals_match_inputs", Kind.rows_query, Category.domain, C,
        "revenue, profit, growth counts and engagement re-computed from the profit, growth and engagement outputs "
        "of the period equal the report's",
        mode="wrong_aggregates",
        query=f"SELECT b.{column}, b.revenue, {revenue} AS inputs_revenue, b.profit, {profit_total} AS inputs_profit, "
              "b.active_accounts, g.active_accounts AS inputs_active_accounts, b.active_users, "
              "e.active_users AS inputs_active_users FROM {rows} AS b, " + profit + ", " + growth + ", " + engaged
              + billed + " WHERE " + " OR ".join(f"({m})" for m in mismatches),
    )
    in_range = Check(
        "metrics_in_range", Kind.rows_query, Category.domain, C,
        "revenue and counts are not negative, profit does not exceed revenue (margin at most 1), average daily "
        "active users do not exceed active users, and no source covers more days than the period has",
        mode="wrong_aggregates",
        query="SELECT b.*, d.period_days FROM {rows} AS b, (SELECT {days_between:q.period_end,q.period_start} "
              "AS period_days FROM (SELECT {end} AS period_end, {start} AS period_start) AS q) AS d WHERE "
              "b.revenue < 0 OR b.profit > b.revenue OR b.profit_margin > 1 OR b.new_accounts < 0 OR b.converted < 0 "
              "OR b.churned < 0 OR b.active_accounts < 0 OR b.active_users < 0 OR b.avg_daily_active_users < 0 "
              "OR b.avg_daily_active_users > b.active_users OR b.session_minutes < 0 OR b.profit_days < 0 "
              "OR b.growth_days < 0 OR b.engagement_days < 0 OR b.profit_days > d.period_days "
              "OR b.growth_days > d.period_days OR b.engagement_days > d.period_days",
    )
    def upstream_days(table: str) -> str:
        return (f"(SELECT COUNT(DISTINCT date) FROM {table} WHERE date >= u.first_day "
                "AND date <= u.last_common_day)")

    # Judged up to the last day all three upstreams reached: one that runs ahead of the others
    # (growth published tomorrow before profit did) is not a gap, a day missing inside is.
    complete = Check(
        "covers_every_day_so_far", Kind.rows_query, Category.missing, C,
        "profit, growth and engagement each cover the completeness target's share of the period's days so far "
        "(from the first day any of them published in the period to the last day all of them reached; a period "
        "that started before the pipelines did is judged complete or not by its snapshot, see "
        "`techflow-ops reports status`)",
        target="completeness", threshold=1.0, mode="incomplete_report",
        query=f"SELECT b.{column}, t.first_day, t.last_common_day, t.days_so_far, t.profit_days, t.growth_days, "
              "t.engagement_days FROM {rows} AS b, (SELECT u.first_day, u.last_common_day, "
              "{days_between:u.last_common_day,u.first_day} + 1 AS days_so_far, "
              + upstream_days("profit_daily_account") + " AS profit_days, "
              + upstream_days("growth_daily") + " AS growth_days, "
              + upstream_days("engagement_daily") + " AS engagement_days FROM "
              "(SELECT MIN(f) AS first_day, MIN(d) AS last_common_day FROM ("
              "SELECT MIN(date) AS f, MAX(date) AS d FROM profit_daily_account WHERE date >= {start} AND date < {end} "
              "UNION ALL SELECT MIN(date), MAX(date) FROM growth_daily WHERE date >= {start} AND date < {end} "
              "UNION ALL SELECT MIN(date), MAX(date) FROM engagement_daily WHERE date >= {start} AND date < {end}) "
              "AS x) AS u) AS t "
              "WHERE t.days_so_far IS NOT NULL AND (t.profit_days < {threshold} * t.days_so_far "
              "OR t.growth_days < {threshold} * t.days_so_far OR t.engagement_days < {threshold} * t.days_so_far)",
    )
    return complete, recomputed, in_range


CLICK_EVENTS = DatasetSuite(
    "stg_click_events", "engagement", "partition_date", Grain.daily, (
        *_not_null("event_key", "user_id", "account_id", "event_ts"),
        *_rows(mode="kafka_outage"),
        # Brief: 99.9 % valid events; below that a breach, above it bad rows are counted, not fatal.
        _rejected_lines("click_events"), _valid_share("click_events", severity=C),
        Check("every_hour_present", Kind.rows_query, Category.missing, C,
              "each of the 24 hourly Kafka partitions of the day landed", mode="kafka_outage",
              query="WITH hours(hour) AS (VALUES " + ", ".join(f"({h})" for h in range(24)) + ") "
                    "SELECT hour AS missing_hour FROM hours WHERE hour NOT IN (SELECT CAST(partition_key AS INTEGER) "
                    "FROM landing_partitions WHERE source = 'click_events' AND present "
                    "AND partition_date >= {start} AND partition_date < {end})"),
        # The brief alerts on unusual duplicate rates: a double click within one second, or Kafka
        # redelivering a message, is counted and warned about; a share above the target fails.
        _unique("event_unique", "event_key", severity=W),
        Check("duplicate_share_under_threshold", Kind.rows_query, Category.duplicate, C,
              "click events landed more than once stay under the duplicate-events target",
              target="duplicate_events_max", threshold=0.001,
              query="SELECT duplicates, all_events FROM (SELECT COUNT(*) - COUNT(DISTINCT event_key) AS duplicates, "
                    "COUNT(*) AS all_events FROM {rows} AS b) AS t WHERE duplicates > {threshold} * all_events"),
        _fresh("event_ts"),
        Check("late_events_under_threshold", Kind.rows_query, Category.domain, W,
              "events arriving > 48 h after they happened stay under the late-events target",
              target="late_events_max", threshold=0.001, mode="late_events",
              query="SELECT late_events, all_events FROM (SELECT SUM(CASE WHEN is_late THEN 1 ELSE 0 END) AS late_events, "
                    "COUNT(*) AS all_events FROM {rows} AS b) AS t WHERE late_events > {threshold} * all_events"),
        _consumer_lag(), _latest_consumer_lag(),
    ), min_row_ratio=0.2, max_row_ratio=5.0,
    category_modes=((Category.missing, "invalid_events"), (Category.duplicate, "duplicate_events"),
                    (Category.domain, "invalid_events")),
)

USAGE_SESSIONS = DatasetSuite(
    "stg_usage_sessions", "engagement", "partition_date", Grain.daily, (
        *_not_null("session_key", "user_id", "account_id"), *_rows(), _rejected_records("usage_sessions"), _landed("usage_sessions"), _valid_share("usage_sessions"),
        _unique("session_unique", "session_key"), _fresh("session_end"),
    ), min_row_ratio=0.2, max_row_ratio=5.0,
)

TEAM_ACTIVITY = DatasetSuite(
    "stg_team_activity", "engagement", "partition_date", Grain.daily, (
        *_not_null("account_id", "team_id", "activity_date"), *_rows(), _rejected_records("team_activity"), _landed("team_activity"), _valid_share("team_activity"),
        _unique("account_team_day_unique", "account_id", "team_id", "activity_date"),
    ), min_row_ratio=0.2, max_row_ratio=5.0,
)

REVENUE = DatasetSuite(
    "stg_revenue", "profit", "partition_date", Grain.monthly, (
        *_not_null("account_id", "total_monthly_revenue"), *_rows(), _rejected_records("revenue"), _landed("revenue"), _valid_share("revenue"),
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
        *_not_null("entry_id", "account_id"), *_rows(), _rejected_records("ledger"), _landed("ledger"), _valid_share("ledger"), _unique("entry_id_unique", "entry_id"),
    ),
)

EXPENSES = DatasetSuite(
    "stg_expenses", "profit", "partition_date", Grain.monthly, (
        *_not_null("account_id", "monthly_cost"), *_rows(), _rejected_records("expenses"), _landed("expenses"), _valid_share("expenses"),
        _unique("account_category_month_unique", "account_id", "expense_category", "expense_date"),
        EXPENSE_SPIKE,
    ), category_modes=((Category.missing, "missing_expenses"),),
)

SALARIES = DatasetSuite(
    "stg_salaries", "profit", "partition_date", Grain.monthly, (
        *_not_null("team_id", "monthly_salary_total"), *_rows(), _rejected_records("salaries"), _landed("salaries"), _valid_share("salaries"),
        _unique("team_month_unique", "team_id", "salary_month"),
    ), category_modes=((Category.duplicate, "salary_duplicates"),),
)

_TRANSITIONS = " OR ".join(f"(previous_status = '{a}' AND new_status = '{b}')" for a, b in ALLOWED_STATUS_TRANSITIONS)

ACCOUNT_STATUS_CHANGES = DatasetSuite(
    "stg_account_status_changes", "growth", "partition_date", Grain.daily, (
        *_not_null("account_id", "new_status"), _sparse_fresh("account_status_changes"), _rejected_records("account_status_changes"), _landed("account_status_changes"), _valid_share("account_status_changes"),
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
        *_not_null("account_id"), _sparse_fresh("license_changes"), _rejected_records("license_changes"), _landed("license_changes"), _valid_share("license_changes"),
        _unique("account_day_unique", "account_id", "change_date"), LICENSE_COUNTS_CONTINUOUS,
    ),
)

RENEWALS = DatasetSuite(
    "stg_renewals", "growth", "partition_date", Grain.daily, (
        *_not_null("account_id"), _sparse_fresh("renewals"), _rejected_records("renewals"), _landed("renewals"), _valid_share("renewals"),
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
        *_report_checks("month", "engagement_monthly", monthly=True),
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


GROWTH_WEEKLY = _period_output("growth_weekly", "growth", "week_start", Grain.weekly, GROWTH_ABOVE_THRESHOLD)
GROWTH_MONTHLY = _period_output("growth_monthly", "growth", "month", Grain.monthly, EVERY_BILLED_ACCOUNT_HAS_STATUS)
ENGAGEMENT_WEEKLY = _period_output("engagement_weekly", "engagement", "week_start", Grain.weekly,
                                   _finite("avg_session_minutes", where="session_minutes > 0"))
ENGAGEMENT_MONTHLY = _period_output("engagement_monthly", "engagement", "month", Grain.monthly,
                                    _finite("avg_session_minutes", where="session_minutes > 0"))
EXECUTIVE_WEEKLY = _period_output("executive_weekly", "executive_investor", "week_start", Grain.weekly,
                                  _finite("profit_margin", where="revenue <> 0"), _finite("avg_daily_active_users"),
                                  *_report_checks("week_start", "engagement_weekly", monthly=False),
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
