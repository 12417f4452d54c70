"""`kpi.sources.load_runs` against a real Airflow 3 metadata DB (`airflow db migrate`): which
instant a DAG run has, and which runs the window's read keeps.

A run's instant is `queued_at`, else `start_date`, else `run_after` (NOT NULL since Airflow 3.0):
a run created in a finished state without ever being queued (a run marked failed or success
before it started) has only `run_after`, and was missed when the read used
`coalesce(queued_at, start_date)`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from techflow_ops.kpi import Window
from techflow_ops.kpi.sources import load_outside_ops, load_runs, with_ops

UTC = timezone.utc
# [2026-11-09 05:00Z, 2026-11-12 05:00Z); the read reaches 7 days back: from 2026-11-02 05:00Z.
WINDOW = Window(datetime(2026, 11, 9, 5, tzinfo=UTC), datetime(2026, 11, 12, 5, tzinfo=UTC))


def naive(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour)


def stored(at: datetime | None) -> str | None:
    """As Airflow's UtcDateTime writes an instant to SQLite: naive UTC text with microseconds."""
    return None if at is None else at.strftime("%Y-%m-%d %H:%M:%S.%f")


# run_id: (state, queued_at, start_date, run_after)
RUNS = {
    "src_queued": ("success", naive(10, 6), naive(10, 6), naive(10, 5)),
    "src_started_only": ("success", None, naive(10, 7), naive(10, 5)),  # created running (dag.test())
    "src_run_after_only": ("failed", None, None, naive(10, 8)),  # marked failed before it was ever queued
    "src_lookback": ("success", None, None, naive(3, 1)),  # 2026-11-03: inside the 7 days before the window
    "src_too_old": ("success", None, None, naive(1, 1)),  # before 11-02 05:00: outside
    # Its run_after is in the window, but it was queued after the window's end: its instant is queued_at.
    "src_queued_after_end": ("queued", naive(12, 6), None, naive(11, 23)),
}


@pytest.fixture
def metadata_runs(airflow_db):
    from techflow_ops.watchdog.probes import metadata_db_url

    url = metadata_db_url()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM dag_run WHERE run_id LIKE 'src_%'"))
        for run_id, (state, queued_at, start_date, run_after) in RUNS.items():
            connection.execute(text(
                "INSERT INTO dag_run (dag_id, run_id, run_type, run_after, queued_at, start_date, end_date, state, "
                "clear_number, span_status) VALUES ('growth', :run_id, 'manual', :run_after, :queued_at, :start_date, "
                "NULL, :state, 0, 'ended')"),
                {"run_id": run_id, "run_after": stored(run_after), "queued_at": stored(queued_at),
                 "start_date": stored(start_date), "state": state})
    yield url
    with engine.begin() as connection:  # the session's Airflow DB is shared with other tests
        connection.execute(text("DELETE FROM dag_run WHERE run_id LIKE 'src_%'"))
    engine.dispose()


def test_a_run_without_queued_at_or_start_date_counts_at_its_run_after(metadata_runs):
    runs = {r.run_id: r for r in load_runs(WINDOW, ["growth"], metadata_runs) if r.run_id.startswith("src_")}
    assert {run_id: run.queued_at for run_id, run in runs.items()} == {
        "src_queued": datetime(2026, 11, 10, 6, tzinfo=UTC),
        "src_started_only": datetime(2026, 11, 10, 7, tzinfo=UTC),
        "src_run_after_only": datetime(2026, 11, 10, 8, tzinfo=UTC),
        "src_lookback": datetime(2026, 11, 3, 1, tzinfo=UTC),
    }
    assert runs["src_run_after_only"].state == "failed" and runs["src_run_after_only"].start is None
    assert runs["src_started_only"].start == datetime(2026, 11, 10, 7, tzinfo=UTC)


def test_outside_ops_and_ops_parts_make_the_whole_history(metadata_runs, tmp_path, monkeypatch):
    """The Health page reads the two parts apart (the ops DB again on each change): together
    they are `load_history`'s History; the outside part holds nothing of the ops DB."""
    from techflow_ops.kpi import load_history

    monkeypatch.setenv("TECHFLOW_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    outside = load_outside_ops(WINDOW, metadata_db_url=metadata_runs)
    assert (outside.incidents, outside.pages, outside.steps, outside.dq_results) == ([], [], [], [])
    assert "src_run_after_only" in {r.run_id for r in outside.runs}
    whole = with_ops(outside, WINDOW)
    assert whole == load_history(WINDOW, metadata_db_url=metadata_runs)
    assert outside.incidents == []  # completed as a copy: the cached part is not changed
    assert whole.runs is outside.runs


def test_the_window_bound_is_compared_as_naive_utc_text_on_sqlite(metadata_runs):
    """A run queued exactly at the window's end is outside it (half-open), one a microsecond
    before is inside: the bound is compared like the stored naive UTC text."""
    engine = create_engine(metadata_runs)
    end = WINDOW.end.replace(tzinfo=None)
    with engine.begin() as connection:
        for run_id, queued in (("src_at_end", end), ("src_just_before_end", end - timedelta(microseconds=1))):
            connection.execute(text(
                "INSERT INTO dag_run (dag_id, run_id, run_type, run_after, queued_at, start_date, end_date, state, "
                "clear_number, span_status) VALUES ('growth', :run_id, 'manual', :at, :at, NULL, NULL, 'queued', 0, 'ended')"),
                {"run_id": run_id, "at": stored(queued)})
    engine.dispose()
    found = {r.run_id for r in load_runs(WINDOW, ["growth"], metadata_runs)}
    assert "src_just_before_end" in found and "src_at_end" not in found
