"""What Airflow's OpenLineage listener (with TechFlow's facets) costs per task: one day of the
five pipelines, run with `dag.test()` in a fresh process per mode, OpenLineage off, on with the
provider's default (a fork per event) and on in a thread (the embedded default), `--repeat`
times each. The first day of a process is reported apart: it loads what every task process
loads once (the on-call schedule, the policy, the quality suites).

Per task, two figures: the wall clock, (median day with OpenLineage - without) / tasks, which
also counts what `dag.test()` does only because a listener is registered and the machine's
noise; and the time the task runner spends inside the listener's task hooks (timed in place),
which is what a task waits for.

    .venv/bin/python benchmarks/bench_openlineage_cost.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "tests" / "lineage" / "run_pipeline_dags.py"
PIPELINES = ("profit", "growth", "engagement", "executive_investor", "experiment_team")
DAY = date(2026, 11, 4)
TASKS = 24  # 5 + 5 + 5 + 4 + 4: the aggregates have no ingest / validate_sources, but a circuit breaker
BAR_MS = 50


def _run(env: dict, repeat: int) -> tuple[list[float], list[float]]:
    """Seconds per day (all five pipelines) and seconds in the listener's task hooks per day,
    one entry per repeat, in one process."""
    specs = [f"{p}:{DAY}" for _ in range(repeat) for p in PIPELINES]
    result = subprocess.run([sys.executable, str(RUNNER), *specs], env=env, capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RUNS_JSON: ")]
    if result.returncode or not lines:
        raise SystemExit(f"runner failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    runs = json.loads(lines[-1].removeprefix("RUNS_JSON: "))
    assert all(r["state"] == "success" for r in runs), runs
    days = [runs[i:i + len(PIPELINES)] for i in range(0, len(runs), len(PIPELINES))]
    return ([sum(r["seconds"] for r in day) for day in days],
            [sum(r.get("listener_seconds", 0.0) for r in day) for day in days])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="techflow-bench-lineage-") as tmp:
        work = Path(tmp)
        base = {**os.environ, "AIRFLOW_HOME": str(work / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False", "TECHFLOW_DATA_DIR": str(work / "data"),
                "TECHFLOW_OPS_DB_URL": f"sqlite:///{work / 'ops.db'}", "TECHFLOW_DEADLINE_ALERTS": "off"}
        for name in [k for k in base if k.startswith(("AIRFLOW__OPENLINEAGE__", "OPENLINEAGE_"))] + ["TECHFLOW_WAREHOUSE_URL"]:
            base.pop(name, None)
        (work / "airflow").mkdir()
        subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], env=base, check=True,
                       capture_output=True)
        subprocess.run([sys.executable, "-c", (
            "from datetime import date\n"
            "from techflow_ops.pipelines.synthetic import GeneratorConfig, generate\n"
            "generate(GeneratorConfig(start=date(2026, 11, 2), end=date(2026, 11, 4), accounts=12, events_per_day=400))\n")],
            env=base, check=True, capture_output=True)

        def lineage(thread: bool) -> dict:
            transport = {"type": "transform", "transformer_class": "techflow_ops.lineage.transformer.TechflowEventTransformer",
                         "transport": {"type": "file", "log_file_path": str(work / "events.jsonl"), "append": True}}
            return {**base, "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport), "TECHFLOW_TIME_LISTENER": "1",
                    "AIRFLOW__OPENLINEAGE__NAMESPACE": "techflow", "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": str(thread)}

        _run(base, 1)  # first runs of a fresh warehouse and ops DB create their tables
        modes = {"off": base, "on, fork per event": lineage(False), "on, thread (default)": lineage(True)}
        results = {name: _run(env, args.repeat + 1) for name, env in modes.items()}
    off = statistics.median(results["off"][0][1:])
    print(f"One day of the five pipelines ({TASKS} tasks), dag.test(), {args.repeat} days per mode after a first day")
    print(f"{'mode':<22} {'first day':>9} {'median day':>10} {'wall/task':>9} {'in hooks/task':>13} {'first day in hooks/task':>23}")
    worst = 0.0
    for name, (days, hooks) in results.items():
        median = statistics.median(days[1:])
        wall = (median - off) / TASKS * 1000 if name != "off" else 0.0
        in_hooks = statistics.median(hooks[1:]) / TASKS * 1000
        if name != "off":
            worst = max(worst, in_hooks)
        print(f"{name:<22} {days[0]:>8.2f}s {median:>9.2f}s {wall:>7.0f}ms {in_hooks:>11.0f}ms {hooks[0] / TASKS * 1000:>21.0f}ms")
    print(f"worst time in the listener per task (warm) {worst:.0f} ms (bar < {BAR_MS} ms): {'met' if worst < BAR_MS else 'NOT met'}; "
          "a task process's first event also loads the schedule, policy and suites (first day column)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
