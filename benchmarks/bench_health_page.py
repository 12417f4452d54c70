"""Health page latency on the 100-pipeline, one-year history, through a real `airflow api-server`.

Bar (issue 15): the Health page has p95 < 200 ms on the 100-pipeline history.

Builds a throw-away deployment: the shipped config with its five pipelines cloned to 100, and
one year (2026) of history made by `bench_kpi.history_of` (36,500 runs, 10,000 incidents,
20,000 DQ results, pages, published days) written by `bench_kpi.fill_sources` to real SQLite
sources (an Airflow metadata DB made by `airflow db migrate`, the ops DB, the warehouse). Starts
`airflow api-server` on it, as `bench_web.py` does, and times sequential requests over one
keep-alive connection, logged in as an admin (every pipeline readable):

- the Health page for 28 days (the default's length) and for the whole year: the first
  request (read, compute, draw: no bar) and then p95 of --requests (the bar);
- the first request after the ops DB changed (a new DQ result: the cache's marker moves);
- the On-call page, which now shows every pipeline's health too (issue 6's bar: p95 < 100 ms).

    .venv/bin/python benchmarks/bench_health_page.py [--requests 50]
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
from datetime import datetime, timezone
from pathlib import Path

# Run as a script, this folder is on sys.path: the year's generator is bench_kpi's, shared.
from bench_kpi import SIZES, fill_sources, history_of

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PASSWORD = "bench-pass"
PIPELINES = 100
BAR_MS = 200.0
ONCALL_BAR_MS = 100.0
WINDOWS = {"28 days": "from=2026-11-01&to=2026-11-28", "whole year": "from=2026-01-01&to=2026-12-31"}


def build_config(work: Path, pipelines: int) -> Path:
    """The shipped config with the five pipelines cloned up to `pipelines` (runbooks by absolute path)."""
    import yaml

    config = work / "config"
    shutil.copytree(PROJECT_ROOT / "include" / "config", config)
    path = config / "pipelines.yaml"
    shipped = yaml.safe_load(path.read_text())["pipelines"]
    for pipeline in shipped:
        pipeline["runbook"] = str((PROJECT_ROOT / pipeline["runbook"]).resolve())
    clones = []
    for index in range(len(shipped), pipelines):
        clone = dict(shipped[index % len(shipped)])
        clone["id"] = f"{clone['id']}_{index:03d}"  # its upstream stays the shipped pipelines'
        clones.append(clone)
    path.write_text(yaml.safe_dump({"pipelines": shipped + clones}, sort_keys=False))
    return config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, env: dict, log_path: Path) -> subprocess.Popen:
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(VENV_BIN / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"api-server exited: see {log_path}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v2/monitor/health")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise SystemExit("api-server did not start within 180 s")


def get(connection: http.client.HTTPConnection, path: str, headers: dict) -> float:
    """One GET, in ms; anything but 200 ends the benchmark."""
    started = time.perf_counter()
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise SystemExit(f"GET {path} answered {response.status}: {body[:300]!r}")
    return elapsed


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def add_dq_result(ops_url: str) -> None:
    """A new validation in the ops DB, as a DQ task records one: the Health page's cache marker moves."""
    from sqlalchemy import create_engine, insert

    from techflow_ops.quality.tables import quality_results

    engine = create_engine(ops_url)
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        connection.execute(insert(quality_results).values(
            pipeline_id="growth", dataset="growth_output", partition_key=now.date().isoformat(), run_id="bench",
            status="passed", success=True, evaluated=12, failed_critical=0, failed_warning=0, checks="[]",
            validated_at=now, duration_seconds=0.0))
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page after the first (>= 20)")
    args = parser.parse_args()
    if args.requests < 20:
        parser.error("--requests: at least 20, for a p95 that means something")

    work = Path(tempfile.mkdtemp(prefix="techflow-bench-health-"))
    server = None
    try:
        config = build_config(work, PIPELINES)
        os.environ["TECHFLOW_CONFIG_DIR"] = str(config)
        from techflow_ops.registry import get_registry

        registry = get_registry()
        history = history_of(registry, SIZES[PIPELINES])
        started = time.perf_counter()
        urls = fill_sources(work, history)
        print(f"{len(registry.pipelines)} pipelines, {len(history.runs):,} runs, {len(history.incidents):,} incidents, "
              f"{len(history.dq_results):,} DQ results, {len(history.pages):,} pages written to SQLite "
              f"({time.perf_counter() - started:.0f} s)")
        (work / "no_dags").mkdir()
        (work / "passwords.json").write_text(json.dumps({"bench": PASSWORD}))
        env = {
            **os.environ,
            "AIRFLOW_HOME": urls["airflow_home"],
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(work / "no_dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "bench:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(work / "passwords.json"),
            "AIRFLOW__API__SECRET_KEY": "bench-" + "s" * 60,
            "AIRFLOW__API_AUTH__JWT_SECRET": "bench-" + "j" * 60,
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "TECHFLOW_CONFIG_DIR": str(config),
            "TECHFLOW_DATA_DIR": str(work / "data"),
            "TECHFLOW_OPS_DB_URL": urls["ops"],
            "TECHFLOW_WAREHOUSE_URL": urls["warehouse"],
        }
        env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
        port = free_port()
        server = start_server(port, env, work / "api-server.log")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.request("POST", "/auth/token", json.dumps({"username": "bench", "password": PASSWORD}),
                           {"Content-Type": "application/json"})
        token = json.loads(connection.getresponse().read())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/html"}

        rows, failures = [], []
        for name, query in WINDOWS.items():
            path = f"/techflow/health?{query}"
            first = get(connection, path, headers)
            samples = [get(connection, path, headers) for _ in range(args.requests)]
            add_dq_result(urls["ops"])
            after_change = get(connection, path, headers)
            p50, p95 = percentile(samples, 50), percentile(samples, 95)
            rows.append((f"Health page, {name}", first, after_change, p50, p95, BAR_MS))
            if p95 >= BAR_MS:
                failures.append(f"Health page, {name}: p95 {p95:.1f} ms >= {BAR_MS:.0f} ms")
        first = get(connection, "/techflow/oncall", headers)
        samples = [get(connection, "/techflow/oncall", headers) for _ in range(args.requests)]
        p50, p95 = percentile(samples, 50), percentile(samples, 95)
        rows.append(("On-call page (with every pipeline's health)", first, None, p50, p95, ONCALL_BAR_MS))
        if p95 >= ONCALL_BAR_MS:
            failures.append(f"On-call page: p95 {p95:.1f} ms >= {ONCALL_BAR_MS:.0f} ms")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{args.requests} sequential requests per page after the first, one keep-alive connection, admin user")
    print(f"{'page':46} {'first ms':>9} {'after ops change ms':>20} {'p50 ms':>8} {'p95 ms':>8} {'bar ms':>7} {'p95 / bar':>10}")
    for name, first, after_change, p50, p95, bar in rows:
        changed = "-" if after_change is None else f"{after_change:.0f}"
        print(f"{name:46} {first:9.0f} {changed:>20} {p50:8.1f} {p95:8.1f} {bar:7.0f} {p95 / bar:10.3f}")
    print("\nbar (Health page p95 < 200 ms; On-call page p95 < 100 ms):", "MET" if not failures else "NOT MET")
    for failure in failures:
        print("  " + failure)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
