"""Upstream outputs and executive runs as the DAG leaves them, without landing files: the
executive transform, validation and publish are the real ones (`steps`, `quality.results`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from uuid import uuid4

from sqlalchemy import delete, func, insert, select

from techflow_ops.pipelines import steps
from techflow_ops.pipelines import warehouse as wh
from techflow_ops.quality.results import CheckOutcome, QualityResult, record

NOVEMBER = [date(2026, 11, 1) + timedelta(days=offset) for offset in range(30)]
UPSTREAM = ("profit", "growth", "engagement")


def publish_upstream(engine, days, *, revenue: float = 100.0, missing: dict[str, set[date]] | None = None) -> None:
    """profit_daily_account, growth_daily and engagement (daily and its week/month rows) for each
    day, and each upstream pipeline's published run; `missing` leaves a pipeline's days out."""
    missing = missing or {}
    for day in days:
        with engine.begin() as conn:
            if day not in missing.get("profit", ()):
                table = wh.profit_daily_account
                conn.execute(delete(table).where(table.c.date == day))
                conn.execute(insert(table).values(
                    date=day, account_id="ACC_001", subscription_tier="Enterprise", revenue=revenue, expenses=60.0,
                    salaries=10.0, profit=revenue - 70.0, subscribers=10, unit_profit=(revenue - 70.0) / 10,
                    zero_subscribers=False, run_id=f"profit__{day}"))
            if day not in missing.get("growth", ()):
                table = wh.growth_daily
                conn.execute(delete(table).where(table.c.date == day))
                conn.execute(insert(table).values(
                    date=day, new_accounts=1, converted=0, upgraded=0, downgraded=0, churned=0, licenses_added=2,
                    licenses_removed=0, license_growth=2, renewals=0, renewal_value_change=0.0, active_accounts=5,
                    trial_accounts=1, run_id=f"growth__{day}"))
            if day not in missing.get("engagement", ()):
                table = wh.engagement_daily
                conn.execute(delete(table).where(table.c.date == day))
                conn.execute(insert(table).values(
                    date=day, account_id="ACC_001", daily_active_users=4, events=40, sessions=5, session_minutes=50.0,
                    features_used=3, api_calls=10, reports_generated=1, run_id=f"engagement__{day}"))
                _engagement_periods(conn, day)
        for pipeline_id in UPSTREAM:
            if day not in missing.get(pipeline_id, ()):
                steps.publish(engine, steps.RunSummary(pipeline_id, day, f"{pipeline_id}__{day}"))


def _engagement_periods(conn, day: date) -> None:
    week = day - timedelta(days=day.weekday())
    month = day.replace(day=1)
    following = (month + timedelta(days=32)).replace(day=1)
    daily = wh.engagement_daily
    for table, column, first, end in ((wh.engagement_weekly, "week_start", week, week + timedelta(days=7)),
                                      (wh.engagement_monthly, "month", month, following)):
        days = conn.execute(select(func.count(func.distinct(daily.c.date)))
                            .where(daily.c.date >= first, daily.c.date < end)).scalar_one()
        conn.execute(delete(table).where(table.c[column] == first))
        conn.execute(insert(table).values(
            **{column: first}, days=days, active_users=4, active_accounts=1, avg_daily_active_users=4.0, events=40 * days,
            session_minutes=50.0 * days, avg_session_minutes=10.0, run_id=f"engagement__{day}"))


def validate(dataset: str, partition: str, run_id: str, status: str) -> int:
    """A validation of the dataset's partition recorded as the quality task records it."""
    failed = status == "failed"
    outcomes = (
        CheckOutcome("has_rows", "critical", "missing", "the partition holds at least one row", True, {"observed_value": 1}),
        CheckOutcome("profit_margin_finite", "critical", "domain", "profit_margin is finite", not failed,
                     {"unexpected_count": 1 if failed else 0}),
    )
    return record(QualityResult("executive_investor", dataset, partition, run_id, datetime.now(timezone.utc), outcomes,
                                row_count=1))


def run_executive(engine, day: date, *, dq: str | dict[str, str] | None = "passed", run_id: str | None = None) -> list[dict]:
    """transform -> validate_outputs -> publish for one date, as the executive_investor DAG runs
    them; the snapshots its publish froze. `dq`: the validation status of both outputs, or per
    output ({"executive_weekly": "failed"}); None: not validated (like `techflow-ops demo`)."""
    run_id = run_id or f"executive__{day}__{uuid4().hex[:6]}"
    steps.transform(engine, "executive_investor", day, run_id)
    partitions = {"investor_monthly": day.strftime("%Y-%m"),
                  "executive_weekly": (day - timedelta(days=day.weekday())).isoformat()}
    for dataset, partition in partitions.items():
        status = dq.get(dataset) if isinstance(dq, dict) else dq
        if status is not None:
            validate(dataset, partition, run_id, status)
    return steps.publish(engine, steps.RunSummary("executive_investor", day, run_id))


def snapshot_rows(engine, report: str) -> list[dict]:
    """Every stored snapshot row of `investor_monthly` or `executive_weekly`, by period and version."""
    table, column = wh.SNAPSHOTS[report]
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(table).order_by(table.c[column], table.c.version)).mappings()]
