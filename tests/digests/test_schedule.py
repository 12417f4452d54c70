"""When digests are due and which days they cover; the DAG's timetable across the March 2027
DST change, computed by Airflow's own timetable (the scheduler's code path), not by hand."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from techflow_ops.digests.schedule import covered_days, due, first_business_day, last_business_days

from .conftest import at_utc

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "techflow_digests.py"
US_HOLIDAYS_2027_2029 = {date(2027, 1, 1), date(2029, 9, 3), date(2027, 9, 6)}  # New Year, Labor Day (2029, 2027)


def test_periods_covered():
    assert covered_days("daily", date(2027, 3, 15)) == (date(2027, 3, 14), date(2027, 3, 14))
    assert covered_days("weekly", date(2027, 3, 15)) == (date(2027, 3, 8), date(2027, 3, 14))
    assert covered_days("monthly", date(2027, 3, 1)) == (date(2027, 2, 1), date(2027, 2, 28))
    assert covered_days("monthly", date(2028, 3, 1)) == (date(2028, 2, 1), date(2028, 2, 29))  # leap year


def test_first_business_day_skips_weekends_and_holidays():
    # 2027-01-01 is a Friday and New Year's Day; 2-3 January the weekend: Monday the 4th.
    assert first_business_day(2027, 1, US_HOLIDAYS_2027_2029) == date(2027, 1, 4)
    # 2029-09-01 is a Saturday, Monday the 3rd is Labor Day: Tuesday the 4th.
    assert first_business_day(2029, 9, US_HOLIDAYS_2027_2029) == date(2029, 9, 4)
    # 2027-03-01 is a Monday.
    assert first_business_day(2027, 3, set()) == date(2027, 3, 1)


def test_due_days():
    assert due("daily", date(2027, 3, 16), set()) is None
    assert due("weekly", date(2027, 3, 15), set()) is None
    assert due("weekly", date(2027, 3, 16), set()) == "the weekly digest goes on Mondays; 2027-03-16 is a Tuesday"
    assert due("monthly", date(2027, 1, 4), US_HOLIDAYS_2027_2029) is None
    assert due("monthly", date(2027, 1, 1), US_HOLIDAYS_2027_2029) == (
        "the monthly digest goes on the month's first business day (2027-01-04), not 2027-01-01")


def test_investor_period_is_the_months_last_five_business_days():
    # March 2027 ends on a Wednesday: 31, 30, 29 (Mon), then Fri 26 and Thu 25.
    assert last_business_days(date(2027, 3, 31), 5, set()) == (date(2027, 3, 25), date(2027, 3, 31))


@pytest.fixture(scope="module")
def digests_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["techflow_digests"]


def next_run_after(dag, previous: datetime) -> datetime:
    """What the scheduler computes: the serialized (core) timetable's next run after `previous`."""
    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction

    timetable = decode_timetable(encode_timetable(dag.timetable))
    info = timetable.next_dagrun_info(last_automated_data_interval=DataInterval(previous, previous),
                                      restriction=TimeRestriction(earliest=None, latest=None, catchup=True))
    return info.run_after.astimezone(timezone.utc)


def test_the_dag_runs_at_0900_new_york_across_the_march_dst_change(digests_dag):
    assert {task.task_id for task in digests_dag.tasks} == {"daily_digest", "weekly_digest", "monthly_digest"}
    # Saturday 2027-03-13 09:00 EST is 14:00Z; on Sunday the 14th clocks go forward: 09:00 EDT is 13:00Z.
    sunday = next_run_after(digests_dag, at_utc(2027, 3, 13, 14))
    assert sunday == at_utc(2027, 3, 14, 13)
    monday = next_run_after(digests_dag, sunday)
    assert monday == at_utc(2027, 3, 15, 13)
    assert due("weekly", date(2027, 3, 15), set()) is None  # and that run is the weekly digest's day


def test_the_dags_run_on_the_monday_after_the_change_sends_the_weekly_and_skips_the_monthly(
        digests_dag, airflow_db, ops_db_url, smtp, monkeypatch):
    """dag.test() at the timetable's 13:00 UTC run: the daily digest (a quiet day) sends nothing,
    the weekly one goes to the engineering team, the monthly one is not due (ends skipped)."""
    from techflow_ops.digests import load

    from .test_compose import daily_inputs
    from .test_delivery import weekly_inputs

    monkeypatch.setattr(load, "load_inputs", lambda kind, at, **_: {"daily": daily_inputs, "weekly": weekly_inputs}[kind]())
    run = digests_dag.test(logical_date=at_utc(2027, 3, 15, 13))
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"daily_digest": "success", "weekly_digest": "success", "monthly_digest": "skipped"}
    assert [m.recipients for m in smtp.messages] == [["data-eng@techflow.example.com"]]
