"""KPI benchmarks (printed figures, not timed tests).

Bars (issue 15): `compute_kpis` over one year of history
- 5 pipelines (daily runs: 1,825 runs, 500 incidents, 2,000 DQ results) < 1 s;
- 100 pipelines (36,500 runs, 10,000 incidents, 20,000 DQ results) < 5 s.
Also measured, without a bar: `load_history` of the same year from real SQLite files (the ops
DB through its migrations, the warehouse, an Airflow metadata DB made by `airflow db migrate`),
warm in this process and cold in a fresh one (imports, engines and the on-call schedule
included), and the CLI-equivalent load + compute in that fresh process.
Run: .venv/bin/python benchmarks/bench_kpi.py [--repeat N] [--skip-load]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from techflow_ops.kpi import (
    DqResult,
    History,
    Incident,
    Page,
    Published,
    Run,
    Shift,
    StepEvent,
    Window,
    compute_kpis,
)
from techflow_ops.registry import get_registry

ROOT = Path(__file__).resolve().parents[1]
UTC = timezone.utc
YEAR = Window.from_dates(date(2026, 1, 1), date(2026, 12, 31), "UTC")
NOW = datetime(2027, 1, 2, tzinfo=UTC)
BARS = {5: 1.0, 100: 5.0}
SIZES = {5: {"incidents": 500, "dq": 2_000}, 100: {"incidents": 10_000, "dq": 20_000}}
ENGINEERS = ("priya", "marcus", "sofia", "jonas")
SEVERITIES = ("critical", "major", "major", "minor", "minor", "notice")


def registry_of(pipelines: int):
    """The shipped registry with `pipelines` pipelines: the five real ones, then copies of them."""
    registry = get_registry()
    real = list(registry.pipelines.values())
    found = {}
    for i in range(pipelines):
        base = real[i % len(real)]
        pipeline = base if i < len(real) else base.model_copy(update={"id": f"{base.id}_{i:03d}"})
        found[pipeline.id] = pipeline
    return replace(registry, pipelines=found)


def history_of(registry, sizes: dict, seed: int = 15) -> History:
    rnd = random.Random(seed)
    ids = sorted(registry.pipelines)
    start = YEAR.start
    runs, published = [], []
    for pipeline_id in ids:
        for day in range(365):
            queued = start + timedelta(days=day)
            state = "failed" if rnd.random() < 0.03 else "success"
            runs.append(Run(pipeline_id, f"scheduled__{queued:%Y-%m-%d}", state, queued, queued,
                            queued + timedelta(minutes=rnd.randint(5, 90))))
            if state == "success":
                published.append(Published(pipeline_id, (queued - timedelta(days=1)).date(),
                                           queued + timedelta(minutes=rnd.randint(5, 90))))
    incidents, pages, steps = [], [], []
    for n in range(sizes["incidents"]):
        pipeline_id = rnd.choice(ids)
        day = rnd.randrange(365)
        opened = start + timedelta(days=day, seconds=rnd.randrange(86_400))
        acked = opened + timedelta(seconds=rnd.randint(30, 7_200)) if rnd.random() < 0.9 else None
        resolved = opened + timedelta(seconds=rnd.randint(600, 3 * 86_400)) if rnd.random() < 0.95 else None
        if acked and resolved and resolved < acked:
            resolved = acked + timedelta(minutes=5)
        who = rnd.choice(ENGINEERS)
        incidents.append(Incident(n + 1, pipeline_id, "task_failure", rnd.choice(SEVERITIES), opened, acked,
                                  who if acked else None, resolved, f"scheduled__{start + timedelta(days=day):%Y-%m-%d}"))
        first = rnd.choice(ENGINEERS)
        pages.append(Page(first, opened, n + 1))
        steps.append(StepEvent(n + 1, opened, "paged", (first,)))
        if acked is None or acked - opened > timedelta(minutes=15):
            second = rnd.choice(ENGINEERS)
            pages.append(Page(second, opened + timedelta(minutes=15), n + 1))
            steps.append(StepEvent(n + 1, opened + timedelta(minutes=15), "paged", (second,)))
    dq_results = []
    for _ in range(sizes["dq"]):
        pipeline_id = rnd.choice(ids)
        failed_critical = 1 if rnd.random() < 0.05 else 0
        dq_results.append(DqResult(pipeline_id, f"{pipeline_id}_output", start + timedelta(seconds=rnd.randrange(365 * 86_400)),
                                   not failed_critical, 12, failed_critical, 1 if rnd.random() < 0.1 else 0))
    shifts = []
    for week in range(53):
        at = start + timedelta(weeks=week)
        for role, offset in (("primary", 0), ("secondary", 1), ("investor_watch", 2)):
            shifts.append(Shift(ENGINEERS[(week + offset) % 4], role, at, at + timedelta(weeks=1), "schedule"))
    return History(runs=runs, published=published, incidents=incidents, pages=pages, steps=steps,
                   dq_results=dq_results, shifts=shifts)


def line(name: str, seconds: float, bar: float | None) -> bool:
    if bar is None:
        print(f"{name:<62} {seconds * 1000:>10.1f} ms   (no bar)")
        return True
    verdict = "meets" if seconds < bar else "MISSES"
    print(f"{name:<62} {seconds * 1000:>10.1f} ms   bar {bar * 1000:>7.0f} ms   {seconds / bar:>6.3f} x bar  {verdict}")
    return seconds < bar


def bench_compute(pipelines: int, repeat: int) -> tuple[bool, object, History]:
    registry = registry_of(pipelines)
    history = history_of(registry, SIZES[pipelines])
    print(f"{pipelines} pipelines: {len(history.runs):,} runs, {len(history.incidents):,} incidents, "
          f"{len(history.dq_results):,} DQ results, {len(history.pages):,} pages, {len(history.published):,} published days")
    started = time.perf_counter()
    kpis = compute_kpis(YEAR, history, registry=registry, now=NOW)
    first = time.perf_counter() - started
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        compute_kpis(YEAR, history, registry=registry, now=NOW)
        times.append(time.perf_counter() - started)
    ok = line(f"compute_kpis, {pipelines} pipelines x 1 year, first call", first, BARS[pipelines])
    ok &= line(f"compute_kpis, {pipelines} pipelines x 1 year, median of {repeat}", statistics.median(times), BARS[pipelines])
    assert kpis["totals"]["runs"] == len(history.runs)
    return ok, registry, history


# --- real SQLite sources for load_history ----------------------------------------------------------

def fill_sources(folder: Path, history: History) -> dict[str, str]:
    """The year written to an ops DB, a warehouse and a migrated Airflow metadata DB under `folder`."""
    from sqlalchemy import create_engine, insert

    from techflow_ops import opsdb
    from techflow_ops.opsdb.schema import incident_events, incidents, outbox
    from techflow_ops.pipelines import warehouse as wh
    from techflow_ops.quality.tables import quality_results

    urls = {"ops": f"sqlite:///{folder / 'ops.db'}", "warehouse": f"sqlite:///{folder / 'warehouse.db'}",
            "airflow_home": str(folder / "airflow")}
    env = {**os.environ, "AIRFLOW_HOME": urls["airflow_home"], "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True, capture_output=True, env=env)
    urls["metadata"] = f"sqlite:///{folder / 'airflow' / 'airflow.db'}"

    def naive(at):
        return None if at is None else at.astimezone(UTC).replace(tzinfo=None)

    metadata = create_engine(urls["metadata"])
    with metadata.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO dag_run (dag_id, run_id, run_type, run_after, queued_at, start_date, end_date, state, "
            "clear_number, span_status) VALUES (?, ?, 'scheduled', ?, ?, ?, ?, ?, 0, 'ended')",
            [(r.pipeline_id, r.run_id, naive(r.queued_at), naive(r.queued_at), naive(r.start), naive(r.end), r.state)
             for r in history.runs])
    metadata.dispose()
    with wh.get_engine(urls["warehouse"]).begin() as connection:
        connection.execute(insert(wh.pipeline_runs), [
            {"pipeline_id": p.pipeline_id, "date": p.day, "run_id": "r", "status": "published", "rows_written": 1,
             "rows_rejected": 0, "summary": "{}", "finished_at": naive(p.at)} for p in history.published])
    with opsdb.get_engine(urls["ops"]).begin() as connection:
        connection.execute(insert(incidents), [
            {"id": i.id, "dedup_key": f"bench:{i.id}", "kind": i.kind, "pipeline_id": i.pipeline_id,
             "dag_id": i.pipeline_id, "run_id": i.run_id, "failure_class": "task_error", "severity": i.severity,
             "error": "", "details": "{}", "status": "resolved" if i.resolved_at else "acknowledged" if i.acknowledged_at else "open",
             "opened_at": i.opened_at, "updated_at": i.opened_at, "acknowledged_by": i.acknowledged_by,
             "acknowledged_at": i.acknowledged_at, "resolved_at": i.resolved_at} for i in history.incidents])
        events = [{"incident_id": s.incident_id, "at": s.at, "kind": "paged", "actor": None, "message": "", "level": 1,
                   "data": json.dumps({"recipients": list(s.recipients)})} for s in history.steps]
        events += [{"incident_id": i.id, "at": i.acknowledged_at, "kind": "acknowledged", "actor": i.acknowledged_by,
                    "level": None, "message": "", "data": "{}"} for i in history.incidents if i.acknowledged_at]
        connection.execute(insert(incident_events), events)
        connection.execute(insert(outbox), [
            {"idempotency_key": f"page:{n}:{channel}", "incident_id": p.incident_id, "purpose": "page",
             "recipient": p.recipient, "channel": channel, "target": p.recipient, "message_key": f"incident:{p.incident_id}:{n}",
             "status": "delivered", "attempts": 1, "created_at": p.at, "next_attempt_at": p.at}
            for n, p in enumerate(history.pages) for channel in ("email", "slack")])
        connection.execute(insert(quality_results), [
            {"pipeline_id": r.pipeline_id, "dataset": r.dataset, "partition_key": r.validated_at.date().isoformat(),
             "run_id": "r", "status": r.status, "success": r.success, "evaluated": r.evaluated,
             "failed_critical": r.failed_critical, "failed_warning": r.failed_warning, "checks": "[]",
             "validated_at": r.validated_at, "duration_seconds": 0.0} for r in history.dq_results])
    return urls


def load_and_compute(pipelines: int, urls: dict) -> dict:
    """One load_history + compute_kpis, timed (used warm here and cold in a fresh process)."""
    from techflow_ops.kpi import load_history

    registry = registry_of(pipelines)
    started = time.perf_counter()
    history = load_history(YEAR, registry=registry, ops_db_url=urls["ops"], warehouse_url=urls["warehouse"],
                           metadata_db_url=urls["metadata"])
    loaded = time.perf_counter() - started
    kpis = compute_kpis(YEAR, history, registry=registry, now=NOW)
    computed = time.perf_counter() - started - loaded
    return {"load": loaded, "compute": computed, "runs": kpis["totals"]["runs"], "incidents": kpis["totals"]["incidents"]}


def bench_load(pipelines: int, history: History) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-kpi-") as folder:
        urls = fill_sources(Path(folder), history)
        first = load_and_compute(pipelines, urls)  # engines created, ops DB schema checked
        warm = load_and_compute(pipelines, urls)
        assert warm["runs"] == len(history.runs), (warm["runs"], len(history.runs))
        line(f"load_history, {pipelines} pipelines, first in this process", first["load"], None)
        line(f"load_history, {pipelines} pipelines, warm", warm["load"], None)
        started = time.perf_counter()
        child = subprocess.run([sys.executable, __file__, "--child", str(pipelines), json.dumps(urls)],
                               check=True, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - started
        cold = json.loads(child.stdout.strip().splitlines()[-1])
        line(f"load_history, {pipelines} pipelines, cold (fresh process)", cold["load"], None)
        line(f"compute_kpis after it, {pipelines} pipelines, fresh process", cold["compute"], None)
        line("fresh process in all (interpreter, imports, load, compute)", wall, None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-load", action="store_true", help="only compute_kpis (no SQLite files, no airflow db migrate)")
    parser.add_argument("--child", nargs=2, metavar=("PIPELINES", "URLS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(load_and_compute(int(args.child[0]), json.loads(args.child[1]))))
        return 0
    ok = True
    for pipelines in (5, 100):
        met, _, history = bench_compute(pipelines, args.repeat)
        ok &= met
        if not args.skip_load:
            bench_load(pipelines, history)
        print()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
