"""Freezing the investor (month end) and executive (week end) snapshots, and their versions,
through the same steps the executive_investor DAG runs, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select

from techflow_ops.pipelines import warehouse as wh
from techflow_ops.reports import snapshots

from .helpers import NOVEMBER, publish_upstream, run_executive, snapshot_rows


def _live(engine, table, column, key) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(select(table).where(table.c[column] == key)).mappings().one())


def test_the_week_end_and_the_month_end_freeze_a_snapshot_and_mid_period_days_do_not(engine):
    publish_upstream(engine, NOVEMBER)

    assert run_executive(engine, date(2026, 11, 20)) == []  # a Friday, mid-month
    assert snapshot_rows(engine, "executive_weekly") == [] and snapshot_rows(engine, "investor_monthly") == []

    weekly = run_executive(engine, date(2026, 11, 22))  # the Sunday ending the week of Monday 16 November
    assert [(s["report"], s["period"], s["version"]) for s in weekly] == [("executive_weekly", "2026-11-16", 1)]
    assert weekly[0]["coverage"] == {"profit": 7, "growth": 7, "engagement": 7} and weekly[0]["complete"] is True
    assert snapshot_rows(engine, "investor_monthly") == []

    monthly = run_executive(engine, date(2026, 11, 30), run_id="executive__month_end")  # a Monday: month end only
    assert [(s["report"], s["period"], s["version"]) for s in monthly] == [("investor_monthly", "2026-11", 1)]
    assert [row["week_start"] for row in snapshot_rows(engine, "executive_weekly")] == [date(2026, 11, 16)]

    [row] = snapshot_rows(engine, "investor_monthly")
    live = _live(engine, wh.investor_monthly, "month", date(2026, 11, 1))
    assert {name: row[name] for name in live} == live  # the figures as published, run id included
    assert row["revenue"] == 30 * 100.0 and row["run_id"] == "executive__month_end"
    assert (row["days_in_period"], row["profit_days"], row["growth_days"], row["engagement_days"]) == (30, 30, 30, 30)
    assert row["complete"] is True and row["dq_status"] == "passed" and row["dq_result_id"] is not None
    assert row["frozen_by_run_id"] == "executive__month_end"
    upstream = json.loads(row["upstream_runs"])
    assert len(upstream) == 90 and {u["pipeline_id"] for u in upstream} == {"profit", "growth", "engagement"}
    assert {"pipeline_id": "engagement", "date": "2026-11-30", "run_id": "engagement__2026-11-30"} in [
        {k: u[k] for k in ("pipeline_id", "date", "run_id")} for u in upstream]


def test_a_rerun_of_a_frozen_period_adds_a_version_and_keeps_the_earlier_ones(engine):
    publish_upstream(engine, NOVEMBER)
    run_executive(engine, date(2026, 11, 30))
    [first] = snapshot_rows(engine, "investor_monthly")

    # Profit re-published 10 November with corrected revenue; its asset event re-runs the aggregate for that day.
    publish_upstream(engine, [date(2026, 11, 10)], revenue=250.0)
    changed = run_executive(engine, date(2026, 11, 10))
    assert [(s["report"], s["version"], s["figures"]["revenue"]) for s in changed] == [("investor_monthly", 2, 3150.0)]
    # A re-run inside a frozen period that changes nothing adds nothing; the week of the 9th was never frozen.
    assert run_executive(engine, date(2026, 11, 12)) == []
    # Re-running the month end always freezes again: a new version with its own validation and runs.
    again = run_executive(engine, date(2026, 11, 30), run_id="executive__rerun")
    assert [(s["version"], s["built_by_run_id"]) for s in again] == [(3, "executive__rerun")]

    rows = snapshot_rows(engine, "investor_monthly")
    assert [(r["version"], r["revenue"]) for r in rows] == [(1, 3000.0), (2, 3150.0), (3, 3150.0)]
    assert rows[0] == first, "an earlier version was rewritten"
    assert snapshot_rows(engine, "executive_weekly") == []
    assert [v["version"] for v in snapshots.versions(engine, snapshots.REPORTS["monthly"],
                                                     snapshots.Period.parse("monthly", "2026-11"))] == [1, 2, 3]


def test_a_snapshot_records_missing_upstream_days_and_a_validation_of_another_build(engine):
    publish_upstream(engine, NOVEMBER, missing={"engagement": {date(2026, 11, 15)}})
    run_executive(engine, date(2026, 11, 29))  # validated; freezes the week 23-29, which lacks nothing
    run_executive(engine, date(2026, 11, 30), dq=None)  # transformed and published, never validated

    [week] = snapshot_rows(engine, "executive_weekly")
    assert week["complete"] is True and week["dq_status"] == "passed"
    [month] = snapshot_rows(engine, "investor_monthly")
    assert (month["profit_days"], month["growth_days"], month["engagement_days"]) == (30, 30, 29)
    assert month["complete"] is False
    # The newest validation of 2026-11 belongs to the 29 November build, not to these figures.
    assert month["dq_status"] == "not_validated" and month["dq_result_id"] is None
    assert [r["date"] for r in json.loads(month["upstream_runs"]) if r["pipeline_id"] == "engagement"].count(
        "2026-11-15") == 0


def test_a_failed_validation_is_frozen_with_the_checks_that_failed(engine):
    publish_upstream(engine, NOVEMBER)
    [snapshot] = run_executive(engine, date(2026, 11, 30), dq="failed")
    assert snapshot["dq_status"] == "failed"
    assert [c["check"] for c in snapshot["dq_failed_checks"]] == ["profit_margin_finite"]
    [row] = snapshot_rows(engine, "investor_monthly")
    assert row["dq_status"] == "failed" and "profit_margin_finite" in row["dq_failed_checks"]
