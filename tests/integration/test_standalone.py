"""`scripts/start.sh` (what `make start` runs) brings up a real Airflow with the five pipeline DAGs.

Starts the script on a free loopback port with its own AIRFLOW_HOME and data folder, logs in
with the generated admin password (JWT from `POST /auth/token`), waits for the five DAGs,
checks their ownership through `/api/v2/dags/{id}/details`, triggers a pipeline and waits
for that run to succeed; then stops every process the script started.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from integration.standalone_stack import StandaloneStack, stop_group, wait_for
from techflow_ops.registry import get_registry

PROJECT_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def airflow_server(tmp_path_factory):
    stack = StandaloneStack(tmp_path_factory.mktemp("standalone"), start_timeout=180, env={
        "TECHFLOW_DEMO_ARGS": "--accounts 10 --events-per-day 300",
        # The watchdog start.sh starts: its default interval (60 s), a short start-up grace for the test.
        "TECHFLOW_WATCHDOG_ARGS": "--startup-grace 20s",
    })
    with stack:
        yield stack.client, stack.output, stack.home


def _wait(predicate, timeout: float, what: str):
    return wait_for(predicate, timeout, what)


def _log_tail(airflow_home: Path, lines: int = 60) -> str:
    log = airflow_home / "standalone.log"
    return "".join(log.read_text(errors="replace").splitlines(keepends=True)[-lines:]) if log.exists() else ""


def test_the_aggregates_run_when_their_upstream_pipelines_publish(airflow_server):
    """The scheduler starts the aggregates once profit, growth and engagement have published
    (their daily runs start with standalone), and each aggregate run processes the dates the
    upstream Asset events carry; a run that fell back to its own date would fail its checks.
    It runs before the test that backfills a profit day by hand: a day profit published and
    growth and engagement did not makes the month's investor data incomplete, which the
    executive/investor run rightly fails (a race the order of these two tests removes)."""
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


def test_the_local_inbox_catches_pages_and_the_inbox_page_lists_them(airflow_server, monkeypatch):
    """`start.sh` starts the loopback catcher and points every notification connection at it (the
    test's environment sets none): a page sent through those connections is on the Inbox API."""
    from escalation.conftest import FakeSchedule
    from techflow_ops.escalation.orchestrator import Escalation
    from techflow_ops.failures import KafkaOutage
    from techflow_ops.opsdb import get_engine

    client, output, airflow_home = airflow_server
    started = "".join(output)
    # the first screen: who is on call, the inbox, the drill to try
    from techflow_ops.oncall import get_schedule_service

    on_call = get_schedule_service().now().primary  # start.sh runs on the shipped config folder
    assert f"on call now:  primary {get_registry().people[on_call].name} ({on_call})" in started, started
    assert "/techflow/inbox" in started and "make drill" in started, started
    assert ("catches: pagerduty_default pagerduty_infra slack_data_eng slack_default slack_finance smtp_default"
            in started), started
    for line in (airflow_home / "inbox.env").read_text().splitlines():
        name, value = line.split("=", 1)
        monkeypatch.setenv(name, value)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    escalation = Escalation(engine=get_engine(f"sqlite:///{airflow_home.parent / 'ops.db'}"), schedule=FakeSchedule())
    incident_id = escalation.report_failure(pipeline_id="engagement", run_id="inbox-check", task_id="ingest",
                                            exception=KafkaOutage("no events"))
    caught = [m for m in client.get("/techflow/api/inbox", params={"limit": 1000}).json()["messages"]
              if m["incident_id"] == incident_id]
    assert {m["channel"] for m in caught} == {"email", "slack", "pagerduty"}, caught
    assert client.get("/techflow/inbox").status_code == 200


def _second_terminal_env(client, airflow_home: Path) -> dict:
    """What a `make` target run in another terminal beside this `make start` sees: a clean shell
    pointed at its home, data folder, ops DB and API."""
    home = airflow_home.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "TECHFLOW_"))}
    env.update({"AIRFLOW_HOME": str(airflow_home), "TECHFLOW_DATA_DIR": str(home / "data"),
                "TECHFLOW_OPS_DB_URL": f"sqlite:///{home / 'ops.db'}",
                "TECHFLOW_AIRFLOW_BASE_URL": str(client.base_url).rstrip("/"), "NO_PROXY": "127.0.0.1,localhost"})
    return env


def test_make_drill_pages_the_on_call_into_the_inbox_and_the_ack_link_stops_escalation(airflow_server):
    """The newcomer's loop on `make start`: `make drill` breaks the landing data and triggers the
    real DAG; the page to the on-call primary lands in the local inbox; its acknowledge link
    stops escalation; the next run (the fault is gone) resolves the incident."""
    import json
    import re
    from datetime import datetime, timedelta, timezone

    client, output, airflow_home = airflow_server
    env = _second_terminal_env(client, airflow_home)
    drill = subprocess.run(["make", "-s", "drill", "DRILL=kafka-outage"], cwd=PROJECT_ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    assert drill.returncode == 0, drill.stdout[-3000:] + drill.stderr[-3000:] + _log_tail(airflow_home)
    assert "drill kafka-outage (live" in drill.stdout and "the on-call primary was paged" in drill.stdout, drill.stdout
    seconds = float(re.search(r"arrived ([0-9.]+) s after the incident opened", drill.stdout).group(1))
    print(f"\nmake drill (kafka-outage): the page to the on-call primary reached the inbox {seconds:.1f} s "
          "after the incident opened")
    incident_id = int(re.search(r"incident #(\d+)", drill.stdout).group(1))
    incident = client.get(f"/techflow/api/incidents/{incident_id}").json()
    assert incident["failure_mode"] == "kafka_outage" and incident["status"] == "open"

    # the acknowledge link in the on-call primary's email, followed as a person would
    mails = [m for m in client.get("/techflow/api/inbox", params={"limit": 1000}).json()["messages"]
             if m["incident_id"] == incident_id and m["channel"] == "email"]
    links = [url for m in mails for url in re.findall(r"https?://\S+/techflow/act/\S+", m["body"])]
    ack = next(url for url in links if "/acknowledge?" in url)
    recipient = ack.split("/techflow/act/")[1].split("/")[1]
    path = "/techflow/act/" + ack.split("/techflow/act/")[1]
    anonymous = httpx.Client(base_url=str(client.base_url), timeout=30)
    confirm = anonymous.get(path)
    assert confirm.status_code == 200 and client.get(f"/techflow/api/incidents/{incident_id}").json()["status"] == "open"
    token = re.search(r'name="t" value="([^"]+)"', confirm.text).group(1)
    done = anonymous.post(path.split("?")[0], data={"t": token})
    assert done.status_code == 200, done.text
    incident = client.get(f"/techflow/api/incidents/{incident_id}").json()
    assert incident["status"] == "acknowledged" and incident["acknowledged_by"] == recipient
    assert incident["next_step_at"] is None  # escalation stopped
    assert any("via link" in e["message"] for e in incident["timeline"] if e["kind"] == "acknowledged")

    # the fault is gone: the next run of the pipeline for that day succeeds and resolves it
    day = (datetime.now(timezone.utc).date() - timedelta(days=1)).isoformat()
    rerun = client.post("/api/v2/dags/engagement/dagRuns", json={"logical_date": None, "conf": {"date": day}})
    assert rerun.status_code == 200, rerun.text

    def resolved():
        found = client.get(f"/techflow/api/incidents/{incident_id}").json()
        return found if found["status"] == "resolved" else None

    assert _wait(resolved, 420, "the incident to auto-resolve")["resolved_by"] == "auto", _log_tail(airflow_home)
    print(json.dumps({"incident": incident_id, "page_seconds": seconds}))


def _scheduler_of(airflow_home: Path):
    """The `airflow scheduler` process that standalone started for this AIRFLOW_HOME."""
    import psutil

    found = {}
    for process in psutil.process_iter(["cmdline"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            if "airflow" in cmdline and " scheduler" in cmdline and "standalone" not in cmdline:
                if process.environ().get("AIRFLOW_HOME") == str(airflow_home):
                    found[process.pid] = process
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    top = [p for p in found.values() if p.ppid() not in found]  # not its executor's workers
    return top[0] if len(top) == 1 else None


def _watchdog_incident(ops_db: Path):
    with sqlite3.connect(ops_db, timeout=30) as db:
        return db.execute("SELECT id, status, opened_at, resolved_at, resolved_by FROM incidents "
                          "WHERE dedup_key LIKE 'watchdog:scheduler%' ORDER BY id DESC LIMIT 1").fetchone()


def _utc(text: str):
    from datetime import datetime, timezone

    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_make_watchdog_check_reads_the_running_airflow_and_pages_nobody(airflow_server):
    """README: `make watchdog-check` prints every check once against the running `make start`
    (heartbeats from its API, the engine's tick, each pipeline's data) and opens nothing."""
    client, output, airflow_home = airflow_server
    home = airflow_home.parent
    env = _second_terminal_env(client, airflow_home)
    with sqlite3.connect(home / "ops.db") as db:
        incidents_before = db.execute("SELECT count(*) FROM incidents").fetchone()[0]
    check = subprocess.run(["make", "-s", "watchdog-check"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                           timeout=300)
    rows = {line.split()[0]: line.split()[1] for line in check.stdout.splitlines()[1:] if line.strip()}
    assert rows.get("scheduler") == "ok" and rows.get("triggerer") == "ok", check.stdout + check.stderr
    assert {f"stale_data:{p}" for p in get_registry().pipelines} <= set(rows), check.stdout
    assert check.returncode == (1 if "stale" in rows.values() else 0), check.stdout + check.stderr
    with sqlite3.connect(home / "ops.db") as db:
        assert db.execute("SELECT count(*) FROM incidents").fetchone()[0] == incidents_before


def test_the_watchdog_pages_a_killed_scheduler_and_resolves_when_one_is_back(airflow_server):
    """Last in this module (it kills the scheduler). start.sh's watchdog, at its default 60 s interval:
    the `airflow scheduler` process is killed; within 2 minutes one platform_down incident is open
    and its page is in the local inbox (caught by the real SMTP catcher); a scheduler started again
    (same environment) resolves it at the watchdog's next pass."""
    import re
    from datetime import datetime, timezone

    import psutil

    client, output, airflow_home = airflow_server
    ops_db = airflow_home.parent / "ops.db"
    log = airflow_home / "watchdog.log"
    assert any("watchdog:" in line for line in output), "".join(output)
    grace = _wait(lambda: re.search(r"start-up grace until (\S+)\)", log.read_text()) if log.exists() else None,
                  60, "the watchdog to start").group(1)
    _wait(lambda: datetime.now(timezone.utc) > datetime.fromisoformat(grace) + timedelta(seconds=2), 60, "the grace")
    _wait(lambda: "scheduler=ok" in log.read_text().rsplit("start-up grace", 1)[-1], 90, "a pass with the scheduler ok")
    assert _watchdog_incident(ops_db) is None, "no platform page during the start-up"

    scheduler = _wait(lambda: _scheduler_of(airflow_home), 30, "the scheduler process")
    environment = scheduler.environ()
    restarted = None
    try:
        victims = [scheduler, *scheduler.children(recursive=True)]
        killed_at = datetime.now(timezone.utc)
        for victim in victims:
            try:
                victim.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(victims, timeout=10)

        def paged():
            incident = _watchdog_incident(ops_db)
            if incident is None or incident[1] != "open":
                return None
            with sqlite3.connect(ops_db, timeout=30) as db:
                caught = db.execute("SELECT min(received_at), count(*) FROM inbox_messages WHERE incident_id = ?",
                                    (incident[0],)).fetchone()
            return (incident, caught) if caught[1] else None

        incident, (first_page, pages) = _wait(paged, 150, "the watchdog's page about the dead scheduler")
        latency = (_utc(first_page) - killed_at).total_seconds()
        print(f"\nwatchdog: killed scheduler paged {latency:.1f} s after the kill (incident #{incident[0]}, "
              f"{pages} message(s), default 60 s interval, 45 s heartbeat threshold)")
        assert latency <= 120, f"the page took {latency:.1f} s (bar: 2 minutes)\n{log.read_text()[-3000:]}"

        restarted_at = datetime.now(timezone.utc)
        restarted = subprocess.Popen([str(PROJECT_ROOT / ".venv" / "bin" / "airflow"), "scheduler"], env=environment,
                                     cwd=PROJECT_ROOT,
                                     stdout=open(airflow_home / "scheduler-restarted.log", "w"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        resolved = _wait(lambda: (found := _watchdog_incident(ops_db)) and found[1] == "resolved" and found, 150,
                         "the watchdog to resolve the incident")
        assert resolved[0] == incident[0] and resolved[4] == "watchdog"
        print(f"watchdog: resolved {(_utc(resolved[3]) - restarted_at).total_seconds():.1f} s after the scheduler "
              "was started again")
        with sqlite3.connect(ops_db, timeout=30) as db:
            count = db.execute("SELECT count(*) FROM incidents WHERE dedup_key LIKE 'watchdog:scheduler%'").fetchone()[0]
        assert count == 1, "one incident per outage"
    finally:
        if restarted is not None:
            stop_group(restarted.pid)
