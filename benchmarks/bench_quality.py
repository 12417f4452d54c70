"""Quality validation of a 1,000,000-row daily click-events partition: GX vs one hand-written SQL.

Both answer the same questions on the same SQLite file and partition: key columns not null,
event_key unique (the identity the contract derives: the export has no event id),
(user_id, event_ts, event_type, session_id) unique, newest event within the
freshness SLA, row count within bounds. Prints both times and the ratio (bar: <= 3x), plus a
naive GX variant (built-in uniqueness expectations, default result format) for comparison.

    .venv/bin/python benchmarks/bench_quality.py [--rows 1000000] [--repeat 3] [--no-naive]

It also times the production `stg_click_events` suite on the same partition (more checks than
the hand query answers, so its ratio is informational, not the bar).
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

WORK = Path(tempfile.mkdtemp(prefix="bench-quality-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
os.environ["TECHFLOW_DATA_DIR"] = str(WORK / "data")
os.environ["TECHFLOW_OPS_DB_URL"] = f"sqlite:///{WORK / 'ops.db'}"
os.environ.setdefault("AIRFLOW_HOME", str(WORK / "airflow"))
os.environ.pop("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", None)

from sqlalchemy import text  # noqa: E402

from techflow_ops.pipelines import warehouse  # noqa: E402
from techflow_ops.quality.checks import Category, Check, DatasetSuite, Grain, Kind, Severity  # noqa: E402

DAY = date(2026, 11, 1)
KEY = ("user_id", "event_ts", "event_type", "session_id")

SUITE = DatasetSuite("stg_click_events", "engagement", "partition_date", Grain.daily, (
    *(Check(f"{c}_not_null", Kind.not_null, Category.missing, Severity.critical, f"{c} not null", (c,))
      for c in ("event_key", "user_id", "account_id", "event_ts")),
    Check("has_rows", Kind.row_count, Category.missing, Severity.critical, "rows > 0"),
    Check("row_count_vs_history", Kind.row_count, Category.missing, Severity.warning, "rows within history bounds"),
    Check("event_unique", Kind.unique, Category.duplicate, Severity.critical, "event_key unique", ("event_key",)),
    Check("event_key_unique", Kind.unique, Category.duplicate, Severity.critical, "compound key unique", KEY),
    Check("event_ts_fresh", Kind.fresh, Category.stale, Severity.critical, "newest event within SLA", ("event_ts",)),
))

HAND_SQL = f"""
SELECT COUNT(*) AS row_count,
       SUM(event_key IS NULL) AS null_event_key, SUM(user_id IS NULL) AS null_user_id,
       SUM(account_id IS NULL) AS null_account_id, SUM(event_ts IS NULL) AS null_event_ts,
       COUNT(*) - COUNT(DISTINCT event_key) AS duplicate_event_keys,
       MAX(event_ts) AS newest_event,
       (SELECT COUNT(*) FROM (SELECT 1 FROM stg_click_events WHERE partition_date >= :start AND partition_date < :end
         GROUP BY {", ".join(KEY)} HAVING COUNT(*) > 1) AS d) AS duplicate_keys
FROM stg_click_events WHERE partition_date >= :start AND partition_date < :end
"""


def build(url: str, rows: int) -> None:
    engine = warehouse.get_engine(url)
    previous = rows // 5
    with engine.begin() as conn:
        for day, count, prefix in ((DAY - timedelta(days=1), previous, "p"), (DAY, rows, "e")):
            conn.execute(text(f"""
                INSERT INTO stg_click_events (partition_date, partition_hour, event_key, user_id, account_id, event_type,
                    feature_name, event_ts, event_date, is_late, session_id, page_url, user_agent, ip_address, run_id)
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {count} - 1)
                SELECT '{day}', (i * 24) / {count}, '{prefix}' || i, 'ACC' || (i % 300) || '-U' || (i % 17),
                    'ACC' || (i % 300), 'click', 'Dashboard',
                    strftime('%Y-%m-%d %H:%M:%f', '{day}', '+' || (i * 86399.0 / {count}) || ' seconds'),
                    '{day}', 0, 'S' || (i / 20), '/app', 'ua', '10.0.0.1', 'bench' FROM n"""))
            conn.execute(text("INSERT INTO landing_partitions (source, partition_date, partition_key, present, rows_loaded, "
                              "rows_rejected, loaded_at, run_id) VALUES " + ", ".join(
                                  f"('click_events', '{day}', '{h:02d}', 1, 0, 0, '{datetime.now():%Y-%m-%d %H:%M:%S}', 'bench')"
                                  for h in range(24))))
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")


def hand(url: str) -> tuple[float, tuple]:
    engine = warehouse.get_engine(url)
    started = time.perf_counter()
    with engine.connect() as conn:
        row = conn.execute(text(HAND_SQL), {"start": DAY.isoformat(), "end": (DAY + timedelta(days=1)).isoformat()}).one()
    return time.perf_counter() - started, tuple(row)


def naive(url: str) -> float:
    """The obvious GX: built-in uniqueness expectations, SUMMARY result format, one run."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    source = context.data_sources.add_sqlite("naive", connection_string=url)
    asset = source.add_query_asset("partition", query=f"SELECT * FROM stg_click_events WHERE partition_date = '{DAY}'")
    suite = context.suites.add(gx.ExpectationSuite("naive", expectations=[
        *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("event_key", "user_id", "account_id", "event_ts")),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=10 * 10**6),
        gxe.ExpectColumnValuesToBeUnique(column="event_key"),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=list(KEY)),
        gxe.ExpectColumnMaxToBeBetween(column="event_ts", min_value={"$PARAMETER": "cutoff"}),
    ]))
    definition = context.validation_definitions.add(gx.ValidationDefinition(
        name="naive", data=asset.add_batch_definition_whole_table("all"), suite=suite))
    started = time.perf_counter()
    definition.run(expectation_parameters={"cutoff": datetime(2026, 10, 31)}, result_format="SUMMARY")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-naive", action="store_true")
    args = parser.parse_args()

    url = f"sqlite:///{WORK / 'warehouse.db'}"
    started = time.perf_counter()
    build(url, args.rows)
    print(f"built {args.rows:,} rows (+{args.rows // 5:,} on the previous day) in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    from techflow_ops.quality.validation import QualityRunner

    print(f"import great_expectations + runner: {time.perf_counter() - started:.1f} s (once per worker process)")
    runner = QualityRunner(url)
    started = time.perf_counter()
    first = runner.validate(SUITE, DAY, "bench_first")
    print(f"first validation (builds suite, asset, checkpoint): {time.perf_counter() - started:.2f} s; {first.status}")
    assert first.status == "passed", first.summary()

    gx_times, hand_times = [], []
    for attempt in range(args.repeat):  # interleaved, so machine load hits both alike
        started = time.perf_counter()
        result = runner.validate(SUITE, DAY, f"bench_{attempt}")
        gx_times.append(time.perf_counter() - started)
        seconds, answer = hand(url)
        hand_times.append(seconds)
        assert result.status == "passed" and answer[0] == args.rows and answer[5] == 0 and answer[7] == 0, answer
    gx_time, hand_time = statistics.median(gx_times), statistics.median(hand_times)
    ratio = gx_time / hand_time
    print(f"hand-written SQL (one query):        {hand_time:.2f} s   (runs: {', '.join(f'{t:.2f}' for t in hand_times)})")
    print(f"TechFlow GX validation ({len(SUITE.checks)} checks): {gx_time:.2f} s   (runs: {', '.join(f'{t:.2f}' for t in gx_times)})")
    print(f"ratio GX / hand SQL: {ratio:.2f}x   (bar <= 3x; issue baseline for naive GX: 15x)")
    from techflow_ops.quality.suites import SUITES

    production = SUITES["stg_click_events"]
    production_times = []
    for attempt in range(args.repeat):
        started = time.perf_counter()
        runner.validate(production, DAY, f"bench_production_{attempt}")
        production_times.append(time.perf_counter() - started)
    production_time = statistics.median(production_times)
    print(f"the production stg_click_events suite ({len(production.checks)} checks, incl. tolerance, duplicate "
          f"share, consumer lag; informational): {production_time:.2f} s = {production_time / hand_time:.2f}x hand SQL")
    if not args.no_naive:
        naive_time = naive(url)
        print(f"naive GX (built-in unique/compound-unique expectations, SUMMARY): {naive_time:.2f} s = "
              f"{naive_time / hand_time:.2f}x hand SQL")
    return 0 if ratio <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
