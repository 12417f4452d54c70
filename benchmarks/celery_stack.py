"""How long the native Celery stack takes: up (databases, migrations, five processes healthy),
a Profit run end to end through the Celery queue, and down. Prints the figures and their
ratio against the issue's budget for the whole integration test (4 minutes).

    .venv/bin/python benchmarks/celery_stack.py [--workers N] [--runs N]

Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379, like the test.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from deploy.celery_stack import CeleryStack, services_problem  # noqa: E402 - the test's own harness

BUDGET_S = 240.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2, help="Profit runs, one after another")
    args = parser.parse_args()
    problem = services_problem()
    if problem:
        print(f"cannot run: {problem}")
        return 2
    day = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
    with tempfile.TemporaryDirectory(prefix="celery-stack-bench-") as work:
        stack = CeleryStack(work_dir=Path(work), dags_folder=ROOT / "dags")
        subprocess.run([str(Path(sys.executable).parent / "techflow-ops"), "data", "generate", "--start", day,
                        "--end", day, "--accounts", "12", "--events-per-day", "300"],
                       env=stack.env, check=True, capture_output=True)
        figures: list[tuple[str, float]] = []
        started = time.perf_counter()
        try:
            stack.start(workers=args.workers)
            figures.append((f"up ({args.workers} worker(s), fresh databases)", time.perf_counter() - started))
            stack.wait_for_dag("profit")
            for n in range(1, args.runs + 1):
                t0 = time.perf_counter()
                run_id = stack.trigger("profit", conf={"date": day})
                state = stack.wait_for_run("profit", run_id)
                figures.append((f"profit run {n}: trigger -> {state}", time.perf_counter() - t0))
                for task_id, ti in sorted(stack.task_instances("profit", run_id).items(),
                                          key=lambda item: item[1]["start_date"] or ""):
                    print(f"  run {n} {task_id:<18} queued {ti['queued_when']}  start {ti['start_date']}  "
                          f"end {ti['end_date']}  {ti['duration'] or 0:.1f} s")
                if state != "success":
                    failed = [t for t, ti in stack.task_instances("profit", run_id).items() if ti["state"] != "success"]
                    print(f"profit run {n} {state}: tasks not successful {failed}; logs in {stack.stack_dir / 'logs'}")
                    print(stack.logs_tail(15))
        finally:
            t0 = time.perf_counter()
            leftovers = stack.stop()
            figures.append(("down (every session stopped, databases dropped)", time.perf_counter() - t0))
        total = time.perf_counter() - started
    for label, seconds in figures:
        print(f"{label:<58} {seconds:7.1f} s")
    print(f"{'total':<58} {total:7.1f} s   = {total / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget")
    if leftovers:
        print(f"LEFTOVER PROCESSES: {leftovers}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
