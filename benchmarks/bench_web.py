"""On-call view latency against Airflow's own `GET /api/v2/dags`, on one real API server.

Builds a throw-away deployment with 100 pipelines (the five shipped ones, cloned) and 1,000
incidents in the ops DB, one DAG and run per pipeline in the metadata DB, starts
`airflow api-server` on a free loopback port, and times sequential requests over one
keep-alive connection. Prints p50/p95 per endpoint and the ratio to Airflow's endpoint.

Bar (issue 6): On-call page and its JSON API p95 < 100 ms and no slower than /api/v2/dags.

    .venv/bin/python benchmarks/bench_web.py [--requests 300] [--pipelines 100] [--incidents 1000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

# Run as a script, this folder is on sys.path: one api-server launcher for the web benchmarks.
from bench_health_page import start_server

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
WORK = Path(tempfile.mkdtemp(prefix="techflow-bench-web-"))
PASSWORD = "bench-pass"
ENV = {
    "AIRFLOW_HOME": str(WORK / "airflow"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(WORK / "no_dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "bench:admin",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(WORK / "passwords.json"),
    "AIRFLOW__API__SECRET_KEY": "bench-" + "s" * 60,
    "AIRFLOW__API_AUTH__JWT_SECRET": "bench-" + "j" * 60,
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    "TECHFLOW_CONFIG_DIR": str(WORK / "config"),
    "TECHFLOW_DATA_DIR": str(WORK / "data"),
    "TECHFLOW_OPS_DB_URL": f"sqlite:///{WORK / 'ops.db'}",
}
os.environ.update(ENV)
(WORK / "airflow").mkdir()
(WORK / "no_dags").mkdir()
(WORK / "passwords.json").write_text(json.dumps({"bench": PASSWORD}))


def build_config(pipelines: int) -> list[str]:
    """The shipped config with the five pipelines cloned up to `pipelines` (runbooks by absolute path)."""
    import yaml

    shutil.copytree(PROJECT_ROOT / "include" / "config", WORK / "config")
    path = WORK / "config" / "pipelines.yaml"
    shipped = yaml.safe_load(path.read_text())["pipelines"]
    for pipeline in shipped:
        pipeline["runbook"] = str((PROJECT_ROOT / pipeline["runbook"]).resolve())
    clones = []
    for index in range(pipelines - len(shipped)):
        clone = dict(shipped[index % len(shipped)])
        clone["id"] = f"{clone['id']}_{index:03d}"
        clone["upstream"] = [f"{u}_{index - index % len(shipped) + [p['id'] for p in shipped].index(u):03d}" for u in clone.get("upstream", [])]
        clones.append(clone)
    path.write_text(yaml.safe_dump({"pipelines": shipped + clones}, sort_keys=False))
    return [p["id"] for p in shipped + clones]


def seed(pipeline_ids: list[str], incidents: int) -> None:
    subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    now = datetime.now(timezone.utc)
    with create_session() as session:
        session.add(DagBundleModel(name="bench"))
        session.flush()
        for index, dag_id in enumerate(pipeline_ids):
            session.add(DagModel(dag_id=dag_id, bundle_name="bench", is_stale=False, is_paused=False, owners="techflow",
                                 fileloc=f"/bench/{dag_id}.py", relative_fileloc=f"{dag_id}.py", timetable_summary="@daily"))
            session.flush()
            for day in range(3):
                session.add(DagRun(dag_id=dag_id, run_id=f"scheduled__{day}", run_type="scheduled",
                                   state="failed" if (index + day) % 7 == 0 else "success",
                                   run_after=now - timedelta(days=day)))
    from techflow_ops import escalation

    started = time.perf_counter()
    for number in range(incidents):
        incident_id = escalation.report_failure(
            pipeline_id=pipeline_ids[number % len(pipeline_ids)], run_id=f"scheduled__{number}", task_id="transform",
            error=f"RuntimeError: failure {number}", failure_class="task_error", deliver=False,
            at=now - timedelta(minutes=incidents - number),
        )
        if number % 3 == 1:
            escalation.acknowledge(incident_id, "bench")
        elif number % 3 == 2:
            escalation.resolve(incident_id, "bench")
    print(f"seeded {len(pipeline_ids)} pipelines/DAGs and {incidents} incidents ({time.perf_counter() - started:.1f} s for the incidents)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def token(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("POST", "/auth/token", json.dumps({"username": "bench", "password": PASSWORD}),
                       {"Content-Type": "application/json"})
    response = connection.getresponse()
    return json.loads(response.read())["access_token"]


def timings(port: int, path: str, headers: dict, requests: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(10):  # warm caches (registry, schedule, SQL statement cache)
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path} answered {response.status}: {body[:300]!r}")
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--pipelines", type=int, default=100)
    parser.add_argument("--incidents", type=int, default=1000)
    args = parser.parse_args()

    pipeline_ids = build_config(args.pipelines)
    seed(pipeline_ids, args.incidents)
    port = free_port()
    server = start_server(port, os.environ.copy(), WORK / "api-server.log")
    try:
        headers = {"Authorization": f"Bearer {token(port)}", "Accept": "text/html,application/json"}
        endpoints = {
            "Airflow GET /api/v2/dags (baseline)": "/api/v2/dags",
            "On-call page /techflow/oncall": "/techflow/oncall",
            "On-call JSON /techflow/api/oncall/now": "/techflow/api/oncall/now",
            "Ownership JSON /techflow/api/ownership": "/techflow/api/ownership",
            "Incidents JSON /techflow/api/incidents?status=unresolved": "/techflow/api/incidents?status=unresolved",
        }
        results = {name: timings(port, path, headers, args.requests) for name, path in endpoints.items()}
    finally:
        server.terminate()
        server.wait(timeout=30)

    baseline_p95 = percentile(results["Airflow GET /api/v2/dags (baseline)"], 95)
    print(f"\n{args.pipelines} pipelines, {args.incidents} incidents, {args.requests} sequential requests each, one keep-alive connection")
    print(f"{'endpoint':58} {'p50 ms':>8} {'p95 ms':>8} {'p95 / baseline':>15}")
    for name, samples in results.items():
        p50, p95 = percentile(samples, 50), percentile(samples, 95)
        print(f"{name:58} {p50:8.1f} {p95:8.1f} {p95 / baseline_p95:15.2f}")
    failures = []
    for name in ("On-call page /techflow/oncall", "On-call JSON /techflow/api/oncall/now"):
        p95 = percentile(results[name], 95)
        if p95 >= 100:
            failures.append(f"{name}: p95 {p95:.1f} ms >= 100 ms")
        if p95 > baseline_p95:
            failures.append(f"{name}: p95 {p95:.1f} ms slower than Airflow's {baseline_p95:.1f} ms")
    print("\nbar (p95 < 100 ms and <= Airflow's /api/v2/dags):", "MET" if not failures else "NOT MET")
    for failure in failures:
        print("  " + failure)
    shutil.rmtree(WORK, ignore_errors=True)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
