"""Kafka consumer lag is measured at ingest and stored per hourly partition; a warehouse an older
version created gets the new column without losing its rows."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import create_engine, inspect, text
from tests.pipelines.conftest import throwaway_postgres_databases

from techflow_ops.pipelines import ingest, warehouse
from techflow_ops.pipelines.synthetic import FaultSpec, GeneratorConfig, generate

DAY = date(2026, 11, 5)


def test_lag_is_the_commit_time_against_what_the_consumer_had_read():
    # Hour 13 closes at 14:00; the file was committed at 14:01:30.
    committed = datetime(2026, 11, 5, 14, 1, 30)
    assert ingest.consumer_lag_seconds(DAY, 13, committed, datetime(2026, 11, 5, 13, 59, 50)) == 90
    # A quiet hour whose last event was at 13:10 is not 51 minutes of lag: the sink rolled the
    # file once it read past the hour.
    assert ingest.consumer_lag_seconds(DAY, 13, committed, datetime(2026, 11, 5, 13, 10)) == 90
    assert ingest.consumer_lag_seconds(DAY, 13, committed, None) == 90  # no events at all
    # An event stamped after the close (a producer's clock ahead) counts from itself.
    assert ingest.consumer_lag_seconds(DAY, 13, committed, datetime(2026, 11, 5, 14, 1)) == 30
    assert ingest.consumer_lag_seconds(DAY, 23, datetime(2026, 11, 6, 0, 25), None) == 25 * 60


def test_ingest_stores_each_hour_s_lag(tmp_path):
    generate(GeneratorConfig(DAY, DAY, accounts=8, events_per_day=300,
                             faults=(FaultSpec.parse(f"click_events:{DAY}:consumer_lag"),)), data_dir=tmp_path)
    engine = warehouse.get_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    ingest.load_partition(engine, "click_events", DAY, "lag", data_dir=tmp_path)
    lp = warehouse.landing_partitions
    with engine.connect() as conn:
        rows = {int(key): (lag, written) for key, lag, written in conn.execute(
            lp.select().with_only_columns(lp.c.partition_key, lp.c.consumer_lag_seconds, lp.c.written_at)
            .where(lp.c.source == "click_events", lp.c.partition_date == DAY))}
    assert len(rows) == 24
    for hour, (lag, written) in rows.items():
        closed = datetime(2026, 11, 5) + timedelta(hours=hour + 1)
        assert lag == pytest.approx((written - closed).total_seconds()), hour  # every generated event precedes the close
        assert (20 * 60 <= lag <= 40 * 60) if hour >= 21 else (30 <= lag <= 90), (hour, lag)


OLD_LANDING_PARTITIONS = (
    "CREATE TABLE landing_partitions (source VARCHAR(64) NOT NULL, partition_date DATE NOT NULL, "
    "partition_key VARCHAR(32) NOT NULL, present BOOLEAN NOT NULL, rows_loaded INTEGER NOT NULL, "
    "rows_rejected INTEGER NOT NULL, newest_record {ts}, written_at {ts}, loaded_at {ts} NOT NULL, "
    "run_id VARCHAR(250) NOT NULL)"
)
OLD_ROW = ("INSERT INTO landing_partitions VALUES ('click_events', '2026-11-05', '13', {true}, 10, 0, "
           "'2026-11-05 13:59:00', '2026-11-05 14:01:00', '2026-11-06 01:00:00', 'old_run')")


def _upgrade_keeps_rows(url: str, ts: str, true: str) -> None:
    old = create_engine(url)
    with old.begin() as conn:
        conn.execute(text(OLD_LANDING_PARTITIONS.format(ts=ts)))
        conn.execute(text(OLD_ROW.format(true=true)))
    old.dispose()
    engine = warehouse.get_engine(url)
    assert "consumer_lag_seconds" in {c["name"] for c in inspect(engine).get_columns("landing_partitions")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT run_id, consumer_lag_seconds FROM landing_partitions")).all() == [("old_run", None)]


def test_an_older_sqlite_warehouse_gets_the_lag_column(tmp_path):
    _upgrade_keeps_rows(f"sqlite:///{tmp_path / 'old.db'}", "DATETIME", "1")


def test_an_older_postgres_warehouse_gets_the_lag_column():
    with throwaway_postgres_databases("techflow_wh_lagcol") as make:
        _upgrade_keeps_rows(make(), "TIMESTAMP WITHOUT TIME ZONE", "true")
