"""One day of click events through the engagement DAG's load and transform on the embedded default.

The same functions the DAG's `ingest` and `transform` tasks call (`steps.ingest`,
`steps.transform`), on a fresh SQLite warehouse file. Issue 2's bar: 1,000,000 events in
under 60 s on a 2-core machine. Generating the landing files is timed separately and is not
part of the figure.

    .venv/bin/python benchmarks/bench_engagement.py [--events 1000000] [--accounts 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

BAR_SECONDS = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--day", type=date.fromisoformat, default=date(2026, 11, 17))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-engagement-") as folder:
        return run(args, Path(folder))


def run(args, work: Path) -> int:
    os.environ["TECHFLOW_DATA_DIR"] = str(work)
    os.environ.pop("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", None)
    os.environ.pop("TECHFLOW_WAREHOUSE_URL", None)

    from techflow_ops.pipelines import steps, warehouse
    from techflow_ops.pipelines.synthetic import GeneratorConfig, generate

    started = time.perf_counter()
    result = generate(GeneratorConfig(start=args.day, end=args.day, accounts=args.accounts,
                                      events_per_day=args.events), work)
    generation = time.perf_counter() - started
    landed_mb = sum(p.stat().st_size for p in (work / "landing" / "click_events").rglob("*.jsonl")) / 1e6

    engine = warehouse.get_engine()  # the embedded default: a SQLite file under the data folder
    run_id = "bench_engagement"
    started = time.perf_counter()
    loads = steps.ingest(engine, "engagement", args.day, run_id)
    loaded = time.perf_counter()
    outputs = steps.transform(engine, "engagement", args.day, run_id)
    finished = time.perf_counter()

    clicks = next(load for load in loads if load["source"] == "click_events")
    total = finished - started
    print(f"engagement, one day, embedded SQLite ({warehouse.warehouse_url()})")
    print(f"  landing generated: {result.records['click_events']:,} click events ({landed_mb:.0f} MB JSONL), "
          f"{result.records['usage_sessions']:,} sessions in {generation:.1f} s (not counted)")
    print(f"  load (ingest task):       {loaded - started:7.2f} s  "
          f"({clicks['rows_loaded']:,} click rows loaded, {clicks['rows_rejected']} rejected)")
    print(f"  transform (transform):    {finished - loaded:7.2f} s  (rows written: {outputs})")
    print(f"  load + transform:         {total:7.2f} s  = {clicks['rows_loaded'] / total:,.0f} click events/s")
    print(f"  bar: < {BAR_SECONDS:.0f} s -> {total / BAR_SECONDS:.2f} of the bar "
          f"({'met' if total < BAR_SECONDS else 'NOT met'}) on {os.cpu_count()} cores")
    return 0 if total < BAR_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
