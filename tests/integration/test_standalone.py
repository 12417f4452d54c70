"""`scripts/start.sh` (what `make start` runs) brings up a real Airflow with the five pipeline DAGs.

Starts the script on a free loopback port with its own AIRFLOW_HOME and data folder, logs in
with the generated admin password (JWT from `POST /auth/token`), waits for the five DAGs,
checks their ownership through `/api/v2/dags/{id}/details`, triggers a pipeline and waits
for that run to succeed; then stops every process the script started.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from escalation.receivers import free_port  # the loopback helpers the test areas share
from techflow_ops.registry import get_registry

PROJECT_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _stop_group(pid: int, grace: float = 30) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def airflow_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("standalone")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "TECHFLOW_"))}
    env.update({
        "AIRFLOW_HOME": str(home / "airflow"),
        "TECHFLOW_DATA_DIR": str(home / "data"),
        "TECHFLOW_OPS_DB_URL": f"sqlite:///{home / 'ops.db'}",
        "TECHFLOW_PORT": str(port),
        "TECHFLOW_DEMO_ARGS": "--accounts 10 --events-per-day 300",
        "TECHFLOW_START_TIMEOUT": "180",
    })
    script = subprocess.Popen(["bash", str(PROJECT_ROOT / "scripts" / "start.sh")], env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    try:
        for line in script.stdout:
            output.append(line)
            if "TechFlow Ops is up" in line or "login:" in line:
                if "login:" in line:
                    break
        assert any("login:" in line for line in output), "".join(output)
        user, password = output[-1].split("login:")[1].strip().split(" / ")
        base = f"http://127.0.0.1:{port}"
        token = httpx.post(f"{base}/auth/token", json={"username": user, "password": password}, timeout=30)
        token.raise_for_status()
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token.json()['access_token']}"},
                              timeout=30)
        yield client, output, home / "airflow"
        client.close()
    finally:
        pid_file = home / "airflow" / "standalone.pid"
        _stop_group(script.pid)
        if pid_file.exists():
            _stop_group(int(pid_file.read_text()))
        script.wait(timeout=60)


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}; last answer: {last!r}")


def _log_tail(airflow_home: Path, lines: int = 60) -> str:
    log = airflow_home / "standalone.log"
    return "".join(log.read_text(errors="replace").splitlines(keepends=True)[-lines:]) if log.exists() else ""


def test_start_script_serves_the_pipelines_with_their_owners_and_runs_one(airflow_server):
    client, output, airflow_home = airflow_server
    assert any("TechFlow Ops is up" in line for line in output)
    registry = get_registry()
    expected = set(registry.pipelines)

    def listed():
        dags = {d["dag_id"]: d for d in client.get("/api/v2/dags", params={"limit": 100}).json()["dags"]}
        return dags if expected <= set(dags) else None

    dags = _wait(listed, 90, "the five pipeline DAGs")
    assert client.get("/api/v2/importErrors").json()["total_entries"] == 0
    for pipeline_id in expected:
        pipeline = registry.pipeline(pipeline_id)
        assert dags[pipeline_id]["owners"] == [pipeline.owners.primary]
        assert dags[pipeline_id]["is_paused"] is False
        details = client.get(f"/api/v2/dags/{pipeline_id}/details").json()
        ownership = details["default_args"]["techflow_ownership"]
        assert ownership["primary_owner"]["id"] == pipeline.owners.primary
        assert ownership["secondary_owner"]["id"] == pipeline.owners.secondary
        assert ownership["business_owner_team"]["id"] == pipeline.business_owner_team
        assert details["owner_links"][pipeline.owners.primary].startswith("mailto:")
        assert pipeline.runbook in details["doc_md"]

    day = (date.today() - timedelta(days=2)).isoformat()
    triggered = client.post("/api/v2/dags/profit/dagRuns", json={"logical_date": None, "conf": {"date": day}})
    assert triggered.status_code == 200, triggered.text + "\n" + _log_tail(airflow_home)
    run_id = triggered.json()["dag_run_id"]

    def finished():
        state = client.get(f"/api/v2/dags/profit/dagRuns/{run_id}").json()["state"]
        return state if state in ("success", "failed") else None

    state = _wait(finished, 150, f"profit run {run_id}")
    if state != "success":
        tasks = client.get(f"/api/v2/dags/profit/dagRuns/{run_id}/taskInstances").json()["task_instances"]
        pytest.fail(f"profit run {run_id} {state}: " + json.dumps({t["task_id"]: t["state"] for t in tasks}))


def test_the_aggregates_run_when_their_upstream_pipelines_publish(airflow_server):
    """The scheduler starts the aggregates once profit, growth and engagement have published
    (their daily runs start with standalone), and each aggregate run processes the dates the
    upstream Asset events carry; a run that fell back to its own date would fail its checks."""
    client, _, airflow_home = airflow_server

    def asset_runs_done():
        states = {}
        for dag_id in ("executive_investor", "experiment_team"):
            runs = client.get(f"/api/v2/dags/{dag_id}/dagRuns", params={"run_type": "asset_triggered"}).json()
            finished = [r["state"] for r in runs["dag_runs"] if r["state"] in ("success", "failed")]
            if not finished:
                return None
            states[dag_id] = finished
        return states

    states = _wait(asset_runs_done, 300, "asset-triggered runs of both aggregates")
    assert all("success" in s for s in states.values()), f"{states}\n{_log_tail(airflow_home)}"


def test_a_trigger_waits_for_a_writer_holding_the_sqlite_metadata_db(airflow_server):
    """Every Airflow process writes the one SQLite file; a commit that holds its lock for longer
    than pysqlite's 5 s default must delay a trigger, not turn it into a 500."""
    client, _, airflow_home = airflow_server
    held = threading.Event()

    def hold_write_lock():
        writer = sqlite3.connect(airflow_home / "airflow.db", timeout=60, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            held.set()
            time.sleep(8)
            writer.execute("COMMIT")
        finally:
            writer.close()

    holder = threading.Thread(target=hold_write_lock)
    holder.start()
    try:
        assert held.wait(60), "could not take the metadata DB's write lock"
        day = (date.today() - timedelta(days=3)).isoformat()
        started = time.monotonic()
        triggered = client.post("/api/v2/dags/growth/dagRuns", json={"logical_date": None, "conf": {"date": day}},
                                timeout=60)
        waited = time.monotonic() - started
    finally:
        holder.join()
    assert triggered.status_code == 200, triggered.text + "\n" + _log_tail(airflow_home)
    assert waited > 5, f"the trigger answered in {waited:.1f} s, so it never met the held lock"
    assert client.get(f"/api/v2/dags/growth/dagRuns/{triggered.json()['dag_run_id']}").status_code == 200
