"""Nothing lost, nothing doubled: the outbox against receivers that fail for a while."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from .conftest import T0

SOFIA = "sofia.alvarez@techflow.example.com"


def test_smtp_down_then_up_delivers_every_page_exactly_once(escalation, smtp_server):
    smtp_server.stop()
    try:
        ids = [escalation.report_failure(pipeline_id="profit", run_id=f"r{n}", task_id="t", error="x", at=T0)
               for n in range(3)]
        assert smtp_server.messages == []
        escalation.tick(T0 + timedelta(seconds=10))  # backoff not over: not even attempted
        escalation.tick(T0 + timedelta(seconds=31))  # attempted again, still down
    finally:
        smtp_server.start()
    for incident_id in ids:
        incident = escalation.get_incident(incident_id)
        [email] = [n for n in incident.notifications if n["channel"] == "email"]
        assert email["status"] == "pending" and email["attempts"] == 2 and "Connection refused" in email["last_error"]
        assert sum(e["kind"] == "notification_failed" for e in incident.timeline) >= 2
    escalation.tick(T0 + timedelta(seconds=90))  # second backoff (60 s) over, server up
    escalation.tick(T0 + timedelta(minutes=3))
    escalation.deliver(at=T0 + timedelta(hours=1))
    assert len(smtp_server.to(SOFIA)) == 3
    assert sorted(m.headers["X-TechFlow-Incident"] for m in smtp_server.to(SOFIA)) == sorted(str(i) for i in ids)
    for incident_id in ids:
        [email] = [n for n in escalation.get_incident(incident_id).notifications if n["channel"] == "email"]
        assert email["status"] == "delivered" and email["attempts"] == 3


def test_webhook_500_then_200_is_delivered_once(escalation, http_receiver):
    http_receiver.fail_next = 1
    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", error="x", at=T0)
    [slack] = [n for n in escalation.get_incident(incident_id).notifications if n["channel"] == "slack"]
    assert slack["status"] == "pending" and slack["attempts"] == 1
    escalation.tick(T0 + timedelta(minutes=1))
    escalation.tick(T0 + timedelta(minutes=2))
    posts = [p for path, p in http_receiver.posts if path.endswith("slack_data_eng")]
    assert len(posts) == 1 and "@sofia" in posts[0]["text"]
    [slack] = [n for n in escalation.get_incident(incident_id).notifications if n["channel"] == "slack"]
    assert slack["status"] == "delivered" and slack["attempts"] == 2


def test_concurrent_deliverers_never_send_a_row_twice(escalation, smtp_server):
    import threading

    smtp_server.stop()
    try:
        for n in range(10):
            escalation.report_failure(pipeline_id="profit", run_id=f"r{n}", task_id="t", error="x", at=T0)
    finally:
        smtp_server.start()
    threads = [threading.Thread(target=escalation.deliver, kwargs={"at": T0 + timedelta(minutes=5)}) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(smtp_server.to(SOFIA)) == 10


WORKER = """
import json, sys
from datetime import datetime, timezone
from techflow_ops.escalation.orchestrator import Escalation
from techflow_ops.opsdb import get_engine

class Schedule:
    def now(self, at):
        return type("Now", (), {"primary": "sofia", "secondary": "jonas", "in_investor_period": False})()

worker, runs = int(sys.argv[1]), int(sys.argv[2])
escalation = Escalation(engine=get_engine(), schedule=Schedule())
at = datetime(2026, 11, 10, 3, 0, tzinfo=timezone.utc)
ids = []
for run in range(runs):
    # every worker reports every failure: as when task and DAG callbacks and retries race
    ids.append(escalation.report_failure(pipeline_id="profit", run_id=f"run{run}", task_id="load", error="x",
                                         at=at, deliver=False))
print(json.dumps(ids))
"""


def test_failures_from_several_processes_at_once_neither_lost_nor_duplicated(ops_db_url, escalation):
    from techflow_ops.opsdb import get_engine
    from techflow_ops.opsdb.schema import incidents, outbox

    get_engine(ops_db_url)  # migrated once up front, as the first task process would
    runs, workers = 25, 4
    processes = [subprocess.Popen([sys.executable, "-c", WORKER, str(w), str(runs)], stdout=subprocess.PIPE, text=True)
                 for w in range(workers)]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in processes]
    assert all(p.returncode == 0 for p in processes)
    assert all(r == results[0] for r in results)  # every process got the same incident for the same failure
    with get_engine(ops_db_url).connect() as connection:
        assert connection.execute(select(func.count()).select_from(incidents)).scalar() == runs
        assert connection.execute(select(func.sum(incidents.c.reports))).scalar() == runs * workers
        # one first page (email + slack to the on-call primary) per incident, whoever won the race
        assert connection.execute(select(func.count()).select_from(outbox)).scalar() == runs * 2


def test_a_fresh_database_migrated_by_many_processes_at_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code = "import sys; from techflow_ops.opsdb import upgrade_to_head; print(upgrade_to_head(sys.argv[1]))"
    processes = [subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err for _, err in outputs]
    from techflow_ops.opsdb import head_revision

    assert {out.strip() for out, _ in outputs} == {head_revision()}
    assert Path(tmp_path / "fresh.db").exists()


def test_a_pagerduty_page_goes_out_from_code_that_runs_an_event_loop(escalation, http_receiver):
    """The triggerer runs deadline callbacks inside its event loop: delivery must not need its own."""
    import asyncio

    from techflow_ops.failures import KafkaOutage

    async def report_from_a_running_loop():
        return escalation.report_failure(pipeline_id="engagement", run_id="r-loop", task_id="ingest",
                                         exception=KafkaOutage("no events"))

    incident_id = asyncio.run(report_from_a_running_loop())
    pagerduty = [n for n in escalation.get_incident(incident_id).notifications if n["channel"] == "pagerduty"]
    assert pagerduty and all(n["status"] == "delivered" for n in pagerduty), pagerduty
