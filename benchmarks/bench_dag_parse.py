"""Parse time of each pipeline DAG file against a plain DAG file with the same tasks, same process.

For every file in `dags/` built by the factory, a plain DAG file with the same number of
PythonOperator tasks in the same chain is written to a temp folder. One fresh Python
process per pipeline imports Airflow's authoring API and DagBag first (the dag-processor
has those loaded), then parses, alternately, the plain file and the pipeline file through
`DagBag` (what the dag-processor runs):

- cold: the first parse of each in that process (TechFlow modules not imported yet, the
  registry not loaded) - what a dag-processor child pays per parse;
- reload: the median of further parses, with the registry cache cleared before each so the
  YAML is read and validated every time;
- cached: the median of further parses with the registry already loaded (the factory alone).

Bar (issue 2): pipeline / plain <= 1.5. After parsing, `great_expectations`, `pandas` and
`scipy` must not be in `sys.modules`.

    .venv/bin/python benchmarks/bench_dag_parse.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAR = 1.5
HEAVY = ("great_expectations", "pandas", "scipy")

PLAIN_TEMPLATE = '''"""A plain Airflow DAG: {n} PythonOperator tasks in a chain, no factory, no registry."""
from datetime import datetime, timezone

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, chain


def _noop(**context):
    return None


with DAG(dag_id="plain_{name}", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         catchup=False, default_args={{"owner": "someone"}}, tags=["plain"]) as dag:
    chain(*[PythonOperator(task_id=f"task_{{i}}", python_callable=_noop) for i in range({n})])
'''

CHILD = r'''
import json, statistics, sys, time, os
dag_file, plain_file, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk  # noqa: F401  the dag-processor has the authoring API loaded
from airflow.providers.standard.operators.python import PythonOperator  # noqa: F401
import gc
# The dag-processor manager freezes its heap before forking parse children
# (airflow/dag_processing/manager.py, before_run: gc.freeze()), so a child's first
# full collection does not walk Airflow's ~190k objects. Without this, whichever side
# allocates enough to trigger that collection first pays ~110 ms that production never does.
gc.freeze()

def parse(path):
    started = time.perf_counter()
    bag = DagBag(dag_folder=path)
    elapsed = time.perf_counter() - started
    assert not bag.import_errors, bag.import_errors
    return elapsed, bag

parse(plain_file)  # Airflow's own first-parse costs are paid by neither side
cold_plain, _ = parse(plain_file)
cold_dag, bag = parse(dag_file)
from techflow_ops.registry import clear_registry_cache
warm_plain, warm_dag, cached_dag = [], [], []
for _ in range(repeat):
    warm_plain.append(parse(plain_file)[0])
    clear_registry_cache()
    warm_dag.append(parse(dag_file)[0])
    cached_dag.append(parse(dag_file)[0])
print(json.dumps({
    "tasks": len(next(iter(bag.dags.values())).tasks), "cold_plain": cold_plain, "cold_dag": cold_dag,
    "warm_plain": statistics.median(warm_plain), "warm_dag": statistics.median(warm_dag),
    "cached_dag": statistics.median(cached_dag),
    "heavy": [m for m in ("great_expectations", "pandas", "scipy") if m in sys.modules],
}))
'''


def _task_count(dag_file: Path, env: dict) -> int:
    code = ("from airflow.dag_processing.dagbag import DagBag; import sys; "
            "b = DagBag(dag_folder=sys.argv[1]); print(len(next(iter(b.dags.values())).tasks))")
    out = subprocess.run([sys.executable, "-c", code, str(dag_file)], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-parse-") as folder:
        work = Path(folder)
        env = {**os.environ, "AIRFLOW_HOME": str(work / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
               "TECHFLOW_DATA_DIR": str(work / "data")}
        dag_files = sorted(p for p in (ROOT / "dags").glob("*.py") if "build_pipeline_dag" in p.read_text())
        rows, worst, heavy = [], 0.0, set()
        for dag_file in dag_files:
            tasks = _task_count(dag_file, env)
            plain = work / f"plain_{dag_file.stem}.py"
            plain.write_text(PLAIN_TEMPLATE.format(n=tasks, name=dag_file.stem))
            out = subprocess.run([sys.executable, "-c", CHILD, str(dag_file), str(plain), str(args.repeat)],
                                 env=env, capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            cold = result["cold_dag"] / result["cold_plain"]
            warm = result["warm_dag"] / result["warm_plain"]
            cached = result["cached_dag"] / result["warm_plain"]
            worst = max(worst, cold, warm)
            heavy |= set(result["heavy"])
            rows.append((dag_file.name, result["tasks"], result["cold_plain"], result["cold_dag"], cold,
                         result["warm_plain"], result["warm_dag"], warm, result["cached_dag"], cached))

    print(f"DAG parse time through DagBag, pipeline file vs a plain file with the same tasks (bar <= {BAR}x)")
    print(f"{'file':<24}{'tasks':>6} {'cold plain':>11}{'cold dag':>10}{'ratio':>8}  {'plain':>8}{'reload':>9}{'ratio':>8}"
          f"  {'cached':>8}{'ratio':>7}")
    for name, tasks, cp, cd, cr, wp, wd, wr, kd, kr in rows:
        print(f"{name:<24}{tasks:>6} {cp * 1000:>9.1f}ms{cd * 1000:>8.1f}ms{cr:>7.1f}x  "
              f"{wp * 1000:>6.1f}ms{wd * 1000:>7.1f}ms{wr:>7.1f}x  {kd * 1000:>6.1f}ms{kr:>6.2f}x")
    print(f"worst ratio (cold, reload) {worst:.1f}x -> bar {'met' if worst <= BAR else 'NOT met'}; "
          f"the factory alone (registry cached): {max(r[-1] for r in rows):.2f}x")
    print(f"heavy modules in sys.modules after parsing: {sorted(heavy) or 'none'} (must be none of {', '.join(HEAVY)})")
    return 0 if worst <= BAR and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
