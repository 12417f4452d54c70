"""The watchdog (techflow_ops.watchdog): the staleness definitions as plain values, then passes
against a real ops DB and real SMTP/HTTP receivers (fake probes and a fake clock): one incident
and one page per outage, resolved on recovery; then the real CLI process with `--at`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from techflow_ops.watchdog import checks
from techflow_ops.watchdog.probes import Heartbeats

from .conftest import T0

VENV_BIN = Path(sys.executable).parent
SLA = timedelta(hours=24)


# --- the definitions (pure) ---------------------------------------------------------------------


def test_data_for_a_day_is_due_at_its_end_plus_the_freshness_sla():
    assert checks.end_of_day(date(2026, 11, 9)) == datetime(2026, 11, 10, tzinfo=timezone.utc)
    assert checks.due_at(date(2026, 11, 9), SLA) == datetime(2026, 11, 11, tzinfo=timezone.utc)


def test_a_pipeline_is_stale_once_the_day_after_its_newest_is_due():
    newest = date(2026, 11, 8)  # day 9 is due at end(9) + 24h = 2026-11-11T00:00Z
    due = datetime(2026, 11, 11, tzinfo=timezone.utc)
    before = checks.freshness("profit", newest, now=due - timedelta(seconds=1), freshness_sla=SLA, first_seen=T0)
    at = checks.freshness("profit", newest, now=due, freshness_sla=SLA, first_seen=T0)
    assert before.status == checks.OK and at.status == checks.STALE
    assert at.age == due - datetime(2026, 11, 9, tzinfo=timezone.utc) == at.threshold == timedelta(days=1) + SLA
    assert "2026-11-09 was due at 2026-11-11T00:00:00+00:00" in at.detail
    assert at.dedup_key == "watchdog:stale_data:profit"
    week = checks.freshness("growth", newest, now=due, freshness_sla=timedelta(days=7), first_seen=T0)
    assert week.status == checks.OK  # growth's SLA is a week


def test_a_fresh_deployment_is_not_paged_before_anything_could_have_run():
    first_seen = datetime(2026, 11, 10, 3, 0, tzinfo=timezone.utc)
    first_due = datetime(2026, 11, 12, tzinfo=timezone.utc)  # end of 2026-11-10 + 24h
    for now in (first_seen, first_seen + timedelta(hours=20), first_due - timedelta(seconds=1)):
        result = checks.freshness("profit", None, now=now, freshness_sla=SLA, first_seen=first_seen)
        assert result.status == checks.OK, (now, result.detail)
    late = checks.freshness("profit", None, now=first_due, freshness_sla=SLA, first_seen=first_seen)
    assert late.status == checks.STALE and "nothing ever published" in late.detail


def test_heartbeats_and_the_engine():
    now = T0
    fresh = checks.heartbeat("scheduler", now - timedelta(seconds=10), now=now, threshold=timedelta(seconds=45), source="x")
    old = checks.heartbeat("scheduler", now - timedelta(seconds=46), now=now, threshold=timedelta(seconds=45), source="x")
    never = checks.heartbeat("triggerer", None, now=now, threshold=timedelta(seconds=45), source="x")
    broken = checks.heartbeat("triggerer", None, now=now, threshold=timedelta(seconds=45), source="x", error="boom")
    assert [r.status for r in (fresh, old, never, broken)] == [checks.OK, checks.STALE, checks.STALE, checks.UNKNOWN]
    five = timedelta(minutes=5)
    # A watchdog that just started gives a stopped engine its threshold from then on.
    assert checks.engine(now - timedelta(hours=3), now=now, threshold=five, since=now - timedelta(minutes=1)).status == checks.OK
    assert checks.engine(now - timedelta(hours=3), now=now, threshold=five, since=now - timedelta(minutes=6)).status == checks.STALE
    assert checks.engine(None, now=now, threshold=five, since=now - timedelta(minutes=6)).status == checks.STALE
    assert checks.engine(now - timedelta(minutes=1), now=now, threshold=five, since=now - timedelta(days=1)).status == checks.OK


def test_held_back_the_engine_behind_a_dead_scheduler_and_everything_in_the_grace():
    now = T0
    def results():
        return [checks.heartbeat("scheduler", None, now=now, threshold=timedelta(seconds=45), source="x"),
                checks.engine(None, now=now, threshold=timedelta(minutes=5), since=now - timedelta(hours=1)),
                checks.freshness("profit", date(2026, 11, 1), now=now, freshness_sla=SLA, first_seen=now)]
    held = checks.hold_back(results(), now=now, grace_until=None)
    assert [(r.status, r.page) for r in held] == [(checks.STALE, True), (checks.STALE, False), (checks.STALE, True)]
    grace = checks.hold_back(results(), now=now, grace_until=now + timedelta(seconds=1))
    assert [r.page for r in grace] == [False, False, True]  # data is not the start-up's business


def test_decide_dedups_and_resolves():
    stale = checks.CheckResult("scheduler", checks.PLATFORM, checks.STALE, None, None, "")
    ok = checks.CheckResult("scheduler", checks.PLATFORM, checks.OK, None, None, "")
    unknown = checks.CheckResult("scheduler", checks.PLATFORM, checks.UNKNOWN, None, None, "")
    assert checks.decide(stale, None).kind == "open"
    assert checks.decide(stale, 7) == checks.Action("none", 7)
    assert checks.decide(ok, 7) == checks.Action("resolve", 7)
    assert checks.decide(ok, None).kind == "none"
    assert checks.decide(unknown, 7).kind == "none" and checks.decide(unknown, None).kind == "none"
    stale.page = False
    assert checks.decide(stale, None).kind == "none"
    assert checks.exit_code([ok, unknown]) == 0 and checks.exit_code([ok, stale]) == 1


# --- passes against the ops DB and real receivers ------------------------------------------------


class FakeProbes:
    def __init__(self):
        self.beats = {"scheduler": T0, "triggerer": T0}
        self.newest = {"profit": date(2026, 11, 9), "growth": date(2026, 11, 9), "engagement": date(2026, 11, 9),
                       "executive_investor": date(2026, 11, 9), "experiment_team": date(2026, 11, 9)}
        self.fail = False

    def heartbeats(self):
        if self.fail:
            raise ConnectionError("api-server and metadata DB unreachable")
        return Heartbeats(dict(self.beats), "fake")

    def newest_days(self, pipeline_ids):
        if self.fail:
            raise ConnectionError("warehouse unreachable")
        return {p: self.newest.get(p) for p in pipeline_ids}


@pytest.fixture
def probes():
    return FakeProbes()


@pytest.fixture
def watchdog(escalation, probes):
    from techflow_ops.escalation import store
    from techflow_ops.escalation.orchestrator import LAST_TICK_KEY
    from techflow_ops.watchdog.service import Watchdog

    with escalation.engine.begin() as connection:  # the engine ticked a minute ago
        store.set_state(connection, LAST_TICK_KEY, (T0 - timedelta(minutes=1)).isoformat())
    return Watchdog(escalation, startup_grace=timedelta(0), heartbeat_probe=probes.heartbeats,
                    newest_probe=probes.newest_days)


def _by_name(results):
    return {r.name: r for r in results}


def test_a_dead_scheduler_pages_once_per_outage_and_resolves_on_recovery(watchdog, probes, escalation, smtp_server,
                                                                          http_receiver):
    assert all(r.status == checks.OK for r in watchdog.run_once(T0))
    assert smtp_server.messages == []
    at = T0 + timedelta(seconds=60)  # the scheduler's last heartbeat stays at T0
    probes.beats["triggerer"] = at
    first = _by_name(watchdog.run_once(at))["scheduler"]
    assert first.status == checks.STALE and first.opened and first.incident_id
    incident = escalation.get_incident(first.incident_id)
    assert (incident.pipeline_id, incident.failure_class, incident.kind, incident.severity) == (
        "platform", "platform_down", "platform_down", "critical")
    assert incident.dedup_key == "watchdog:scheduler"
    pages = list(smtp_server.messages)
    assert pages, "the watchdog delivers the first step itself"
    assert any("sofia" in ",".join(m.recipients) for m in pages)  # the on-call primary (fake schedule)
    assert any("infra-oncall@" in ",".join(m.recipients) for m in pages)  # Infrastructure: told at once
    assert all("Airflow platform" in m.subject and "scheduler stopped (watchdog)" in m.subject for m in pages)
    assert "/techflow/runbooks/platform#platform-down" in pages[0].text
    infra_events = [p for p in http_receiver.posts if "/v2/enqueue" in p[0]]
    assert infra_events, "Infrastructure's PagerDuty service gets the event"

    # Still down: checked again and again (until minute 5: at minute 6 the engine, silent since T0,
    # is stale too and the watchdog's tick fires step 2, see test_behind_a_dead_scheduler_...).
    for minute in range(2, 6):
        probes.beats["triggerer"] = T0 + timedelta(minutes=minute)
        again = _by_name(watchdog.run_once(T0 + timedelta(minutes=minute)))["scheduler"]
        assert again.status == checks.STALE and again.incident_id == first.incident_id and not again.opened
    assert len(smtp_server.messages) == len(pages), "one page per outage"
    assert len(escalation.list_incidents(pipeline_id="platform")) == 1
    assert escalation.get_incident(first.incident_id).reports == 1

    back = T0 + timedelta(minutes=7)
    probes.beats.update(scheduler=back, triggerer=back)
    recovered = _by_name(watchdog.run_once(back))["scheduler"]
    assert recovered.status == checks.OK and recovered.resolved_incident_id == first.incident_id
    resolved = escalation.get_incident(first.incident_id)
    assert resolved.status == "resolved" and resolved.resolved_by == "watchdog"

    # The next outage is a new incident with its own page.
    later = back + timedelta(minutes=2)
    probes.beats["triggerer"] = later
    second = _by_name(watchdog.run_once(later))["scheduler"]
    assert second.opened and second.incident_id != first.incident_id
    assert len(smtp_server.messages) > len(pages)


def test_the_engine_is_not_paged_separately_while_the_scheduler_is_down(watchdog, probes, escalation):
    watchdog.run_once(T0)  # watching since T0
    at = T0 + timedelta(minutes=10)  # scheduler and engine both silent for 10 minutes
    probes.beats["triggerer"] = at
    results = _by_name(watchdog.run_once(at))
    assert results["scheduler"].opened
    assert results["escalation_engine"].status == checks.STALE and not results["escalation_engine"].page
    assert results["escalation_engine"].incident_id is None
    assert [i.dedup_key for i in escalation.list_incidents(pipeline_id="platform")] == ["watchdog:scheduler"]


def test_stale_data_is_paged_exactly_once_and_resolved_when_a_day_is_published(watchdog, probes, escalation, smtp_server):
    probes.newest["profit"] = date(2026, 11, 5)  # "paused": day 6 was due at 2026-11-08T00:00Z
    for minute in range(6):
        at = T0 + timedelta(minutes=minute)
        probes.beats.update(scheduler=at, triggerer=at)
        result = _by_name(watchdog.run_once(at))["stale_data:profit"]
        assert result.status == checks.STALE
    incidents = escalation.list_incidents(pipeline_id="profit")
    assert len(incidents) == 1
    incident = incidents[0]
    assert (incident.failure_class, incident.failure_mode, incident.dedup_key) == (
        "stale_data", "stale_data", "watchdog:stale_data:profit")
    stale_pages = [m for m in smtp_server.messages if "published data of profit is stale" in m.subject]
    assert len({tuple(m.recipients) for m in stale_pages}) == len(stale_pages), "each recipient paged once"
    assert stale_pages and "/techflow/runbooks/profit#stale-data" in stale_pages[0].text
    assert all(r.status == checks.OK for r in watchdog.run_once(T0).__iter__() if r.name != "stale_data:profit")

    probes.newest["profit"] = date(2026, 11, 9)
    result = _by_name(watchdog.run_once(T0 + timedelta(minutes=7)))["stale_data:profit"]
    assert result.status == checks.OK and result.resolved_incident_id == incident.id
    assert escalation.get_incident(incident.id).status == "resolved"


def test_a_probe_that_raises_is_unknown_and_the_loop_goes_on(watchdog, probes, escalation):
    from techflow_ops.watchdog.service import run_forever

    probes.fail = True
    results = watchdog.run_once(T0 + timedelta(minutes=30))
    assert {r.name: r.status for r in results}["scheduler"] == checks.UNKNOWN
    assert all(r.status == checks.UNKNOWN for r in results if r.kind == checks.DATA)
    assert escalation.list_incidents() == []

    passes: list = []
    stop = threading.Event()

    def on_pass(found):
        passes.append(found)
        if len(passes) == 3:
            stop.set()

    original = watchdog.check
    calls = {"n": 0}

    def flaky(at):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the ops DB went away")
        return original(at)

    watchdog.check = flaky
    run_forever(watchdog, timedelta(seconds=0.01), stop=stop, on_pass=on_pass)
    assert calls["n"] == 4 and len(passes) == 3  # the pass that raised was logged, the loop went on


# --- the real command, a fake clock --------------------------------------------------------------


def test_the_cli_pages_stale_data_once_and_resolves_it(tmp_path, ops_db_url, connections, smtp_server):
    """`techflow-ops watchdog --once --format json --at ...` as a real process, several times."""
    from sqlalchemy import insert

    from techflow_ops.pipelines import warehouse as wh

    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = wh.get_engine(url)

    def publish(pipeline_id: str, day: date) -> None:
        with engine.begin() as connection:
            connection.execute(insert(wh.pipeline_runs).values(
                pipeline_id=pipeline_id, date=day, run_id=f"manual__{day}", status="published", rows_written=1,
                rows_rejected=0, summary="{}", finished_at=datetime(2026, 11, 1)))

    for pipeline_id in ("profit", "growth", "engagement", "executive_investor", "experiment_team"):
        publish(pipeline_id, date(2026, 11, 20))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_TECHFLOW_WAREHOUSE")}
    env.update(connections, TECHFLOW_WAREHOUSE_URL=url, TECHFLOW_OPS_DB_URL=ops_db_url)

    def watchdog(at: str, fmt: str = "json"):
        done = subprocess.run([str(VENV_BIN / "techflow-ops"), "watchdog", "--once", "--only", "data", "--format", fmt,
                               "--at", at], env=env, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr

    code, out, err = watchdog("2026-11-21T12:00:00Z")  # first seen; nothing due yet
    assert code == 0, err
    report = json.loads(out)
    assert {c["name"] for c in report["checks"]} == {f"stale_data:{p}" for p in
                                                     ("profit", "growth", "engagement", "executive_investor", "experiment_team")}
    assert set(report["checks"][0]) >= {"name", "status", "age_seconds", "threshold_seconds", "detail", "incident_id"}

    # Profit (24 h) and executive_investor (24 h) went stale at 2026-11-23T00:00Z; engagement (48 h) not yet.
    ids = set()
    for at in ("2026-11-23T00:30:00Z", "2026-11-23T00:31:00Z", "2026-11-23T00:32:00Z"):
        code, out, err = watchdog(at)
        assert code == 1, err
        checks_by_name = {c["name"]: c for c in json.loads(out)["checks"]}
        profit = checks_by_name["stale_data:profit"]
        assert profit["status"] == "stale" and profit["threshold_seconds"] == 2 * 86400
        assert profit["age_seconds"] == 2 * 86400 + 1800 + (int(at[14:16]) - 30) * 60
        assert checks_by_name["stale_data:engagement"]["status"] == "ok"
        ids.add(profit["incident_id"])
    assert len(ids) == 1 and None not in ids
    mails = [m for m in smtp_server.messages if "published data of profit" in m.subject]
    assert mails and len(mails) == len({tuple(m.recipients) for m in mails}), "paged exactly once"

    publish("profit", date(2026, 11, 22))
    code, out, err = watchdog("2026-11-23T00:40:00Z", fmt="table")
    assert code == 1, err  # executive_investor is still stale
    assert f"#{ids.pop()} resolved" in out and "stale_data:profit" in out


def test_the_loop_survives_unreachable_probes_and_stops_cleanly_on_sigterm(tmp_path, ops_db_url):
    """The real process: nothing answers (no API, no metadata DB tables), every pass goes on and is
    logged (also after Airflow's configuration was imported by the fallback), SIGTERM ends it."""
    import signal
    import time

    from escalation.receivers import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__DATABASE__"))}
    env.update(TECHFLOW_OPS_DB_URL=ops_db_url, TECHFLOW_WAREHOUSE_URL=f"sqlite:///{tmp_path / 'warehouse.db'}",
               AIRFLOW_HOME=str(tmp_path / "airflow"))
    log = tmp_path / "watchdog.log"
    heartbeat = tmp_path / "heartbeat"
    with open(log, "w") as out:
        process = subprocess.Popen([str(VENV_BIN / "techflow-ops"), "watchdog", "--interval", "0.5",
                                    "--api-url", f"http://127.0.0.1:{free_port()}", "--heartbeat-file", str(heartbeat)],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and log.read_text().count("watchdog pass:") < 3:
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        assert text.count("watchdog pass:") >= 3 and "scheduler=unknown" in text, text
        assert heartbeat.exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert "watchdog stopped" in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    from techflow_ops.escalation.orchestrator import Escalation
    from techflow_ops.opsdb import get_engine

    assert Escalation(engine=get_engine(ops_db_url)).list_incidents() == [], "unknown never pages"


def test_the_platform_runbook_is_served_where_platform_pages_link():
    from techflow_ops.web import views

    page = views.runbook("platform")
    assert page["source"] == "include/runbooks/platform.md" and 'id="platform-down"' in page["html"]


def test_the_health_probe_reads_airflow_3_answers_and_falls_back_to_the_metadata_db(tmp_path, monkeypatch):
    """A real HTTP server answering as Airflow 3.3's /api/v2/monitor/health does; an unhealthy
    metadata DB, or no answer, sends the probe to the `job` table instead."""
    import sqlite3
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from techflow_ops.watchdog import probes

    answer = {"metadatabase": {"status": "healthy"},
              "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": "2026-11-10T02:59:55.123456+00:00"},
              "triggerer": {"status": None, "latest_triggerer_heartbeat": None},
              "dag_processor": {"status": "healthy", "latest_dag_processor_heartbeat": "2026-11-10T02:59:50+00:00"}}

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(answer).encode()
            self.send_response(200 if self.path == "/api/v2/monitor/health" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    db = tmp_path / "airflow.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE job (id INTEGER, job_type TEXT, state TEXT, latest_heartbeat TIMESTAMP)")
        connection.executemany("INSERT INTO job VALUES (?, ?, ?, ?)", [
            (1, "SchedulerJob", "running", "2026-11-10 02:58:00.000000"),
            (2, "SchedulerJob", "running", "2026-11-10 02:59:40.500000"),
            (3, "TriggererJob", "running", "2026-11-10 02:59:30.000000")])
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        found = probes.health_api(base)
        assert found.latest == {"scheduler": datetime(2026, 11, 10, 2, 59, 55, 123456, tzinfo=timezone.utc),
                                "triggerer": None}
        from_db = probes.metadata_db(f"sqlite:///{db}")
        assert from_db.latest == {"scheduler": datetime(2026, 11, 10, 2, 59, 40, 500000, tzinfo=timezone.utc),
                                  "triggerer": datetime(2026, 11, 10, 2, 59, 30, tzinfo=timezone.utc)}
        answer["metadatabase"]["status"] = "unhealthy"
        monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{db}")
        fallback = probes.heartbeats(base)
        assert "job" in fallback.source and "metadata DB is unhealthy" in fallback.source
        assert fallback.latest["triggerer"] is not None
    finally:
        server.shutdown()


def test_a_platform_incident_escalates_like_a_highest_tier_pipeline_owned_by_de_and_infrastructure(watchdog, probes,
                                                                                                    escalation):
    at = T0 + timedelta(seconds=60)
    probes.beats["triggerer"] = at
    incident_id = _by_name(watchdog.run_once(at))["scheduler"].incident_id
    report = escalation.tick(at + timedelta(minutes=5, seconds=1))  # the highest tier waits 5 minutes
    assert report.escalated == 1 and not report.errors
    paged = [e for e in escalation.get_incident(incident_id).timeline if e["kind"] == "paged"]
    assert len(paged) == 2
    assert {"dana", "kai"} <= set(paged[1]["data"]["recipients"])  # escalation.yaml platform.owners
    assert "infrastructure" in paged[0]["data"]["recipients"]  # told with the first page (route: immediately)
    from techflow_ops.web import views

    shown = views._incident_json(escalation.get_incident(incident_id))
    assert shown["runbook_url"].endswith("/techflow/runbooks/platform#platform-down")


def test_stale_data_is_not_paged_again_while_the_runs_deadline_miss_is_open(watchdog, probes, escalation):
    """The Deadline Alert (DAGRUN_QUEUED_AT + freshness_sla) and the stale-data check meet at the
    same instant for a late daily run: one page for one late day."""
    probes.newest["profit"] = date(2026, 11, 5)
    missed = escalation.report_failure(pipeline_id="profit", run_id="scheduled__2026-11-07", kind="deadline_miss",
                                       failure_class="sla_miss", error="deadline missed", at=T0)
    result = _by_name(watchdog.run_once(T0))["stale_data:profit"]
    assert result.status == checks.STALE and not result.page and f"#{missed}" in result.detail
    assert [i.id for i in escalation.list_incidents(pipeline_id="profit")] == [missed]
    escalation.resolve(missed, "priya", at=T0 + timedelta(minutes=1))
    result = _by_name(watchdog.run_once(T0 + timedelta(minutes=2)))["stale_data:profit"]
    assert result.opened, "still stale once the deadline miss is closed: paged"


# --- ticking for a dead engine ---------------------------------------------------------------------

DANA, KAI = "dana.whitfield@techflow.example.com", "kai.nakamura@techflow.example.com"


def _tick_keys(escalation) -> tuple[str | None, str | None]:
    """(the engine's last successful tick, the watchdog's last tick) as recorded in engine_state."""
    from techflow_ops.escalation import store
    from techflow_ops.escalation.orchestrator import LAST_TICK_KEY, WATCHDOG_TICK_KEY

    with escalation.engine.connect() as connection:
        return store.get_state(connection, LAST_TICK_KEY), store.get_state(connection, WATCHDOG_TICK_KEY)


def _step_two_pages(escalation, incident_id: int) -> list[dict]:
    return [e for e in escalation.get_incident(incident_id).timeline if e["kind"] == "paged"][1:]


def test_a_stale_engine_is_ticked_by_the_watchdog_its_incident_reaches_step_2_and_stays_stale(
        watchdog, probes, escalation, smtp_server):
    """Only the engine DAG stopped (Airflow is up): the watchdog pages it, then ticks in its place,
    so its own unacknowledged platform incident escalates to the platform owners, without the
    engine; the engine check keeps reading the engine's own tick: still stale, incident open."""
    engine_tick, _ = _tick_keys(escalation)
    watchdog.run_once(T0)  # watching since T0; the engine last ticked at T0 - 1 min
    passes = {}
    for minute in range(1, 13):
        at = T0 + timedelta(minutes=minute)
        probes.beats.update(scheduler=at, triggerer=at)
        passes[minute] = _by_name(watchdog.run_once(at))["escalation_engine"]
        if minute == 10:
            assert not smtp_server.to(DANA) and not smtp_server.to(KAI), "step 2 is not due before 5 minutes"
    assert all(passes[m].status == checks.OK and passes[m].tick is None for m in range(1, 6)), "healthy: no tick"
    opened = passes[6]
    assert opened.status == checks.STALE and opened.opened and opened.incident_id
    assert opened.tick is not None and opened.tick["by"] == "watchdog" and not opened.tick["skipped"]
    assert "the watchdog ticked on the engine's behalf" in opened.detail
    incident_id = opened.incident_id
    assert sum(passes[m].tick["escalated"] for m in range(6, 13)) == 1
    assert passes[11].tick["escalated"] == 1  # opened at T0+6m, the highest tier waits 5 minutes
    [step_two] = _step_two_pages(escalation, incident_id)
    assert {"dana", "kai"} <= set(step_two["data"]["recipients"])
    assert len(smtp_server.to(DANA)) == 1 and len(smtp_server.to(KAI)) == 1, "paged by the watchdog's tick, once"

    # Not mistaken for the engine: stale every pass, the same incident open, the engine's key untouched.
    assert all(passes[m].status == checks.STALE and passes[m].incident_id == incident_id for m in range(6, 13))
    incident = escalation.get_incident(incident_id)
    assert incident.status == "open" and incident.resolved_at is None
    assert _tick_keys(escalation)[0] == engine_tick == (T0 - timedelta(minutes=1)).isoformat()
    assert _tick_keys(escalation)[1] is not None
    assert escalation.last_successful_tick() == T0 - timedelta(minutes=1)


def test_behind_a_dead_scheduler_the_watchdog_ticks_and_the_scheduler_incident_escalates(watchdog, probes, escalation,
                                                                                         smtp_server):
    """The likeliest reason the engine stops: the scheduler died. The engine's check is held back
    (one page per outage) but the watchdog still ticks for it, so the scheduler's incident escalates."""
    watchdog.run_once(T0)
    results = {}
    for minute in range(1, 8):  # the scheduler's last heartbeat stays at T0
        at = T0 + timedelta(minutes=minute)
        probes.beats["triggerer"] = at
        results[minute] = _by_name(watchdog.run_once(at))
    incident_id = results[1]["scheduler"].incident_id
    assert results[1]["scheduler"].opened and incident_id
    assert results[5]["escalation_engine"].status == checks.OK and results[5]["escalation_engine"].tick is None
    engine = results[6]["escalation_engine"]
    assert engine.status == checks.STALE and not engine.page and engine.incident_id is None
    assert engine.tick is not None and engine.tick["escalated"] == 1  # the scheduler's step 2 was due at T0+6m
    [step_two] = _step_two_pages(escalation, incident_id)
    assert {"dana", "kai"} <= set(step_two["data"]["recipients"])
    assert smtp_server.to(DANA) and smtp_server.to(KAI)
    assert [i.dedup_key for i in escalation.list_incidents(pipeline_id="platform")] == ["watchdog:scheduler"]


def test_the_watchdog_does_not_tick_for_a_healthy_engine_nor_in_the_start_up_grace(watchdog, probes, escalation,
                                                                                  smtp_server, monkeypatch):
    from techflow_ops.escalation import store
    from techflow_ops.escalation.orchestrator import LAST_TICK_KEY
    from techflow_ops.watchdog.service import Watchdog

    ticks: list = []
    original = escalation.tick
    monkeypatch.setattr(escalation, "tick", lambda *a, **k: ticks.append((a, k)) or original(*a, **k))

    watchdog.run_once(T0)
    for minute in range(1, 9):  # the scheduler is down, its incident's step 2 comes due; the engine keeps ticking
        at = T0 + timedelta(minutes=minute)
        probes.beats["triggerer"] = at
        with escalation.engine.begin() as connection:
            store.set_state(connection, LAST_TICK_KEY, (at - timedelta(seconds=30)).isoformat())
        results = _by_name(watchdog.run_once(at))
        assert results["escalation_engine"].status == checks.OK and results["escalation_engine"].tick is None
    assert ticks == [], "the engine is healthy: escalation is its job"
    incident_id = results["scheduler"].incident_id
    assert escalation.get_incident(incident_id).step_index == 1 and not _step_two_pages(escalation, incident_id)
    assert not smtp_server.to(DANA) and _tick_keys(escalation)[1] is None

    # A restarted watchdog gives the engine its start-up grace before standing in for it.
    restarted = Watchdog(escalation, startup_grace=timedelta(minutes=3), started_at=T0 + timedelta(minutes=9),
                         engine_threshold=timedelta(minutes=1), heartbeat_probe=probes.heartbeats,
                         newest_probe=probes.newest_days)
    in_grace = _by_name(restarted.run_once(T0 + timedelta(minutes=11)))["escalation_engine"]
    assert in_grace.status == checks.STALE and not in_grace.page and in_grace.tick is None and ticks == []
    after = _by_name(restarted.run_once(T0 + timedelta(minutes=12, seconds=1)))["escalation_engine"]
    assert after.status == checks.STALE and after.tick is not None and len(ticks) == 1
    assert ticks[0][1] == {"by": "watchdog"}
    assert _step_two_pages(escalation, incident_id), "the scheduler's overdue step 2 fired"
