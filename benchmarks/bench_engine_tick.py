"""One escalation-engine tick with 10,000 open incidents (bar: < 1 s).

Prints the tick time for three loads on a fresh SQLite ops DB (WAL):
  idle   - 10,000 open incidents, none due (the common minute)
  steady - 10,000 open incidents, 1 % due (100 steps fire: pages queued, timeline written)
  storm  - 10,000 open incidents, all due at once (worst case, e.g. after an outage of the engine)
Delivery is left out (deliver=False): it is network-bound and measured by
bench_escalation_latency.py. Run: .venv/bin/python benchmarks/bench_engine_tick.py [--url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

BAR_SECONDS = 1.0
OPEN_INCIDENTS = 10_000
T0 = datetime(2026, 11, 10, 3, 0, tzinfo=timezone.utc)
PIPELINES = ["profit", "growth", "engagement", "executive_investor", "experiment_team"]


class Schedule:
    def now(self, at):
        return type("OnCallNow", (), {"primary": "sofia", "secondary": "jonas", "in_investor_period": False})()


def seed(engine, due: int) -> None:
    from sqlalchemy import delete, insert

    from techflow_ops.opsdb.schema import incident_events, incidents, outbox

    rows = []
    for n in range(OPEN_INCIDENTS):
        rows.append({
            "dedup_key": f"bench|{n}", "kind": "task_failure", "pipeline_id": PIPELINES[n % 5], "dag_id": PIPELINES[n % 5],
            "run_id": f"run{n}", "task_id": "transform", "try_number": 1, "failure_class": "task_error", "error": "boom",
            "details": "{}", "log_url": None, "status": "open", "opened_at": T0, "updated_at": T0, "reports": 1,
            "step_index": 1, "cycle": 0, "level": 1,
            "next_step_at": T0 + timedelta(minutes=5) if n < due else T0 + timedelta(hours=6),
        })
    with engine.begin() as connection:
        for table in (outbox, incident_events, incidents):
            connection.execute(delete(table))
        connection.execute(insert(incidents), rows)


def measure(escalation, engine, due: int, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        seed(engine, due)
        started = time.perf_counter()
        report = escalation.tick(T0 + timedelta(minutes=5), deliver=False)
        times.append(time.perf_counter() - started)
        assert report.escalated == due, (report, due)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="ops DB URL (default: a fresh SQLite file in a temp folder)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-tick-"))
    url = args.url or f"sqlite:///{workdir / 'ops.db'}"
    os.environ["TECHFLOW_OPS_DB_URL"] = url
    os.environ.setdefault("AIRFLOW_HOME", str(workdir / "airflow"))

    from techflow_ops.escalation.orchestrator import Escalation
    from techflow_ops.opsdb import get_engine

    engine = get_engine(url)
    escalation = Escalation(engine=engine, schedule=Schedule())
    print(f"ops DB: {engine.url.render_as_string(hide_password=True)}; {OPEN_INCIDENTS:,} open incidents; "
          f"median of {args.repeats}")
    ok = True
    for name, due in (("idle", 0), ("steady", OPEN_INCIDENTS // 100), ("storm", OPEN_INCIDENTS)):
        times = measure(escalation, engine, due, args.repeats)
        median = statistics.median(times)
        verdict = "meets" if median < BAR_SECONDS else "MISSES"
        print(f"  {name:<7} {due:>6,} due: {median * 1000:8.1f} ms  ({median / BAR_SECONDS:.2f}x the 1 s bar, {verdict})")
        ok &= name == "storm" or median < BAR_SECONDS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
