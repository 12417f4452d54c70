"""Task failure -> first page delivered to a loopback SMTP server: TechFlow escalation vs
Airflow's bare SmtpNotifier as on_failure_callback, same DAG shape, same server (bar: <= 2x).

Both DAGs run with dag.test() on a fresh SQLite metadata DB; the failing task stamps the
instant it raises, the SMTP server stamps the instant the message arrives. The escalation
path does everything it does in production: classify, open the incident in the ops DB,
ask the on-call schedule who is on call, render and queue the page, deliver it through
the outbox. Run: .venv/bin/python benchmarks/bench_escalation_latency.py [--runs N]
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

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BAR_RATIO = 2.0

DAG_FILE = '''
import os, time
from datetime import datetime, timezone
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG
from techflow_ops.escalation.callbacks import task_hooks


def fail():
    with open(os.environ["BENCH_STAMP_FILE"], "w") as stamp:
        stamp.write(repr(time.perf_counter()))
    raise RuntimeError("revenue file missing")


def build(dag_id, callbacks):
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False,
             default_args={"owner": "priya", "retries": 0, **callbacks}) as dag:
        PythonOperator(task_id="load_revenue", python_callable=fail)
    return dag


bare = build("bench_bare_smtp", {"on_failure_callback": [SmtpNotifier(
    to=os.environ["BENCH_BARE_TO"], from_email="airflow@techflow.example.com", subject="Task failed",
    html_content="{{ ti.task_id }} failed in {{ dag.dag_id }}", smtp_conn_id="smtp_default")]})
techflow = build("bench_techflow", task_hooks("profit"))
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per variant, after one warm-up run each")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    dags = workdir / "dags"
    dags.mkdir()
    (dags / "bench_dags.py").write_text(DAG_FILE)
    sys.path.insert(0, str(PROJECT_ROOT / "tests" / "escalation"))
    from receivers import SmtpReceiver  # the same loopback SMTP server the tests use

    smtp = SmtpReceiver().start()
    os.environ.update({
        "AIRFLOW_HOME": str(workdir / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps([{
            "name": "bench", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(dags), "refresh_interval": 0}}]),
        "TECHFLOW_OPS_DB_URL": f"sqlite:///{workdir / 'ops.db'}", "TECHFLOW_DATA_DIR": str(workdir / "data"),
        "BENCH_STAMP_FILE": str(workdir / "stamp"), "BENCH_BARE_TO": "bare@techflow.example.com",
        **smtp.connection_env("smtp_default"),
    })
    (workdir / "airflow").mkdir()
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True, capture_output=True)

    import importlib.util
    import logging

    logging.disable(logging.WARNING)
    spec = importlib.util.spec_from_file_location("bench_dags", dags / "bench_dags.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    from datetime import datetime, timezone

    from techflow_ops.oncall import get_schedule_service
    from techflow_ops.registry import get_registry

    on_call = get_schedule_service().now(datetime.now(timezone.utc)).primary
    techflow_to = get_registry().person(on_call).email

    def one_run(dag, address: str) -> float:
        before = len(smtp.to(address))
        dag.test()
        received = smtp.to(address)
        if len(received) != before + 1:
            raise RuntimeError(f"{dag.dag_id}: expected one new page to {address}, got {len(received) - before}")
        raised_at = float((workdir / "stamp").read_text())
        return received[-1].received_at - raised_at

    results: dict[str, list[float]] = {"bare SmtpNotifier": [], "TechFlow escalation": []}
    cold = {"bare SmtpNotifier": one_run(module.bare, "bare@techflow.example.com"),
            "TechFlow escalation": one_run(module.techflow, techflow_to)}
    for _ in range(args.runs):
        results["bare SmtpNotifier"].append(one_run(module.bare, "bare@techflow.example.com"))
        results["TechFlow escalation"].append(one_run(module.techflow, techflow_to))
    smtp.stop()

    logging.disable(logging.NOTSET)
    print(f"task failure -> page at the SMTP server (median of {args.runs} runs after a cold first run each)")
    for name, times in results.items():
        print(f"  {name:<20} median {statistics.median(times) * 1000:7.1f} ms   min {min(times) * 1000:7.1f} ms   "
              f"cold {cold[name] * 1000:7.1f} ms")
    ratio = statistics.median(results["TechFlow escalation"]) / statistics.median(results["bare SmtpNotifier"])
    print(f"  ratio (median): {ratio:.2f}x the bare notifier (bar <= {BAR_RATIO:.0f}x: {'meets' if ratio <= BAR_RATIO else 'MISSES'})")
    print(f"  paged: {on_call} <{techflow_to}> (on call now per the schedule)")
    return 0 if ratio <= BAR_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
