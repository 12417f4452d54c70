"""Parse time of each pipeline DAG file against a plain DAG file with the same tasks.

For every file in `dags/` built by the factory, a plain DAG file with the same number of
PythonOperator tasks in a chain is written to a temp folder. One Python process per pipeline
stands in for the dag-processor manager: it starts as `airflow dag-processor` does (so
Airflow imports `airflow_local_settings` from the plugins folder, which preloads the DAG
factory and the registry there), pre-imports the `airflow.*` modules each file names (the
manager's `parsing_pre_import_modules`) and freezes its heap (`gc.freeze()`, as the manager
does before forking). Then, alternately for the plain file and the pipeline file:

- forked: each parse in a child forked from that process, as the dag-processor parses every
  file (median of --repeat forks); `preload off` is the same with TECHFLOW_PRELOAD=off, a
  deployment without the project's local settings;
- same process: further parses in the parent itself (median of --repeat), registry loaded;
- reload: same process, with the registry cache cleared before each parse, as after every
  edit of the config (informational: it is what a parse costs until the parent restarts).

Times are medians; each ratio is the median of paired ratios (a pipeline parse over the
plain parse measured just before it), so a slow moment of the machine hits both sides.

Bar (issue 2): pipeline / plain <= 1.5 for `forked` and `same process`. After parsing,
`great_expectations`, `pandas` and `scipy` must not be in `sys.modules`.

    .venv/bin/python benchmarks/bench_dag_parse.py [--repeat 21]
"""

from __future__ import annotations

import argparse
import json
import os
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

MANAGER = r'''
import sys
dag_file, plain_file, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.argv = ["airflow", "dag-processor"]  # what airflow_local_settings looks at
import gc, importlib, json, os, statistics, time
from airflow.dag_processing.dagbag import DagBag
from airflow.utils.file import iter_airflow_imports

for path in (plain_file, dag_file):
    for module in iter_airflow_imports(path):
        importlib.import_module(module)
gc.freeze()
HEAVY = ("great_expectations", "pandas", "scipy")

def parse(path):
    started = time.perf_counter()
    bag = DagBag(dag_folder=path)
    elapsed = time.perf_counter() - started
    assert not bag.import_errors, bag.import_errors
    return elapsed, bag

def forked(path):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            elapsed, _ = parse(path)
            out = {"elapsed": elapsed, "heavy": [m for m in HEAVY if m in sys.modules]}
        except BaseException as exc:
            out = {"error": repr(exc)}
        os.write(write_end, json.dumps(out).encode())
        os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    out = json.loads(b"".join(chunks))
    if "error" in out:
        raise SystemExit(f"forked parse of {path} failed: {out['error']}")
    return out

fork_plain, fork_dag, heavy = [], [], set()
for _ in range(repeat):
    fork_plain.append(forked(plain_file)["elapsed"])
    out = forked(dag_file)
    fork_dag.append(out["elapsed"])
    heavy |= set(out["heavy"])

parse(plain_file)
_, bag = parse(dag_file)
from techflow_ops.registry import clear_registry_cache
same_plain, same_dag, reload_dag = [], [], []
for _ in range(repeat):
    same_plain.append(parse(plain_file)[0])
    same_dag.append(parse(dag_file)[0])
    clear_registry_cache()
    reload_dag.append(parse(dag_file)[0])
heavy |= {m for m in HEAVY if m in sys.modules}
median = statistics.median
paired = lambda dag, plain: median(d / p for d, p in zip(dag, plain))  # noqa: E731
print(json.dumps({
    "tasks": len(next(iter(bag.dags.values())).tasks),
    "fork_plain": median(fork_plain), "fork_dag": median(fork_dag), "fork_ratio": paired(fork_dag, fork_plain),
    "same_plain": median(same_plain), "same_dag": median(same_dag), "same_ratio": paired(same_dag, same_plain),
    "reload_ratio": paired(reload_dag, same_plain), "heavy": sorted(heavy),
}))
'''


def _task_count(dag_file: Path, env: dict) -> int:
    code = ("from airflow.dag_processing.dagbag import DagBag; import sys; "
            "b = DagBag(dag_folder=sys.argv[1]); print(len(next(iter(b.dags.values())).tasks))")
    out = subprocess.run([sys.executable, "-c", code, str(dag_file)], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def _run(dag_file: Path, plain: Path, repeat: int, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", MANAGER, str(dag_file), str(plain), str(repeat)],
                         env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{dag_file.name}: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-parse-") as folder:
        work = Path(folder)
        env = {**os.environ, "AIRFLOW_HOME": str(work / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
               "TECHFLOW_DATA_DIR": str(work / "data")}
        env.pop("TECHFLOW_PRELOAD", None)
        dag_files = sorted(p for p in (ROOT / "dags").glob("*.py") if "build_pipeline_dag" in p.read_text())
        rows, heavy = [], set()
        for dag_file in dag_files:
            tasks = _task_count(dag_file, env)
            plain = work / f"plain_{dag_file.stem}.py"
            plain.write_text(PLAIN_TEMPLATE.format(n=tasks, name=dag_file.stem))
            deployed = _run(dag_file, plain, args.repeat, env)
            bare = _run(dag_file, plain, args.repeat, {**env, "TECHFLOW_PRELOAD": "off"})
            heavy |= set(deployed["heavy"]) | set(bare["heavy"])
            rows.append((dag_file.name, deployed["tasks"],
                         deployed["fork_plain"], deployed["fork_dag"], deployed["fork_ratio"],
                         deployed["same_plain"], deployed["same_dag"], deployed["same_ratio"],
                         deployed["reload_ratio"], bare["fork_ratio"]))

    ms = lambda seconds: f"{seconds * 1000:.2f}ms"  # noqa: E731
    print(f"DAG parse time through DagBag, pipeline file vs a plain file with the same tasks (bar <= {BAR}x), "
          f"{args.repeat} pairs")
    print(f"{'':<24}{'':>6} {'forked (as the dag-processor)':^30}  {'same process':^30}  {'reload':>7} {'preload off':>12}")
    print(f"{'file':<24}{'tasks':>6} {'plain':>9}{'dag':>10}{'ratio':>9}  {'plain':>9}{'dag':>10}{'ratio':>9}  "
          f"{'ratio':>9}{'forked ratio':>14}")
    for name, tasks, fp, fd, fr, sp, sd, sr, rr, br in rows:
        print(f"{name:<24}{tasks:>6} {ms(fp):>9}{ms(fd):>10}{fr:>8.2f}x  {ms(sp):>9}{ms(sd):>10}{sr:>8.2f}x  "
              f"{rr:>8.2f}x{br:>13.2f}x")
    worst = max(max(r[4], r[7]) for r in rows)
    print(f"worst ratio (forked, same process) {worst:.2f}x -> bar {'met' if worst <= BAR else 'NOT met'}; "
          f"informational: reload up to {max(r[8] for r in rows):.2f}x, preload off up to {max(r[9] for r in rows):.2f}x")
    print(f"heavy modules in sys.modules after parsing: {sorted(heavy) or 'none'} (must be none of {', '.join(HEAVY)})")
    return 0 if worst <= BAR and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
