"""The docker-compose shape, proven natively: api-server, scheduler, dag-processor, triggerer
and a Celery worker as processes (scripts/celery-stack.sh) on PostgreSQL and Redis, running
the project's own DAGs against a Postgres warehouse and a Postgres ops store.

Two runs at once: Profit on clean generated data must publish; Engagement on a day whose
click events never arrived (generator fault `stale`) must fail in `ingest`, open an incident
in the ops store and page someone through the loopback SMTP server.

Skips where PostgreSQL or Redis do not answer (a laptop); under CI (`CI` set, as `.ci/run`
does) that skip is a failure, so the proof cannot silently vanish.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from escalation.receivers import SmtpReceiver

from . import celery_stack
from .celery_stack import ROOT, CeleryStack, require_services

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

TECHFLOW_OPS = Path(sys.executable).parent / "techflow-ops"
# Yesterday, as a daily run would process it, so freshness rules see current data.
RUN_DAY: date = (datetime.now(timezone.utc) - timedelta(days=1)).date()
FAILING_DAG, SUCCEEDING_DAG = "engagement", "profit"


@pytest.fixture(scope="module")
def smtp():
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, smtp):
    require_services()
    stack = CeleryStack(work_dir=tmp_path_factory.mktemp("celery-stack"), dags_folder=ROOT / "dags")
    subprocess.run(
        [str(TECHFLOW_OPS), "data", "generate", "--start", RUN_DAY.isoformat(), "--end", RUN_DAY.isoformat(),
         "--accounts", "12", "--events-per-day", "300", "--fault", f"click_events:{RUN_DAY}:stale"],
        env=stack.env, check=True, capture_output=True,
    )
    try:
        stack.start(workers=1)
        # The mail relay goes into the metadata DB, encrypted by this CLI process: a page only
        # arrives if the api-server, which hands connections to tasks, holds the same Fernet key.
        (conn_json,) = smtp.connection_env().values()
        added = stack.airflow("connections", "add", "smtp_default", "--conn-json", conn_json)
        assert added.returncode == 0, added.stderr
        yield stack
    finally:
        leftovers = stack.stop()
        assert not leftovers, f"processes left running after down: {leftovers}"


@pytest.fixture(scope="module")
def runs(stack) -> dict[str, tuple[str, str]]:
    """dag_id -> (run_id, final state), both runs triggered together."""
    for dag_id in (SUCCEEDING_DAG, FAILING_DAG):
        stack.wait_for_dag(dag_id)
    run_ids = {dag_id: stack.trigger(dag_id, conf={"date": RUN_DAY.isoformat()})
               for dag_id in (SUCCEEDING_DAG, FAILING_DAG)}
    return {dag_id: (run_id, stack.wait_for_run(dag_id, run_id)) for dag_id, run_id in run_ids.items()}


def test_a_pipeline_runs_end_to_end_on_the_celery_worker(stack, runs):
    run_id, state = runs[SUCCEEDING_DAG]
    task_instances = stack.task_instances(SUCCEEDING_DAG, run_id)
    not_successful = [t for t, ti in task_instances.items() if ti["state"] != "success"]
    assert state == "success", "\n".join(
        [f"{SUCCEEDING_DAG} {state}; tasks not successful: {not_successful}"]
        + [stack.task_log(SUCCEEDING_DAG, run_id, t) for t in not_successful])
    assert {"ingest", "transform", "publish"} <= set(task_instances)
    for ti in task_instances.values():
        assert ti["state"] == "success"
        assert ti["queue"] == stack.queue, "the task did not travel through this stack's Celery queue"
    assert "execute_workload" in stack.log("worker-1")
    engine = sa.create_engine(stack.warehouse_url)
    try:
        with engine.connect() as conn:
            published = conn.execute(
                sa.text("SELECT run_id, status, rows_written FROM pipeline_runs WHERE pipeline_id = :p AND date = :d"),
                {"p": SUCCEEDING_DAG, "d": RUN_DAY},
            ).all()
    finally:
        engine.dispose()
    assert [(r.run_id, r.status) for r in published] == [(run_id, "published")]
    assert published[0].rows_written > 0


def test_a_failed_task_opens_an_incident_in_the_postgres_ops_store(stack, runs):
    run_id, state = runs[FAILING_DAG]
    task_instances = stack.task_instances(FAILING_DAG, run_id)
    assert state == "failed"
    assert task_instances["ingest"]["state"] == "failed"
    # The task reports its failed state before its on_failure_callback runs, so the run can be
    # "failed" a moment before the incident is written: wait for it.
    deadline = time.monotonic() + 90
    while True:
        listed = subprocess.run([str(TECHFLOW_OPS), "incidents", "list", "--pipeline", FAILING_DAG, "--json"],
                                env=stack.env, check=True, capture_output=True, text=True)
        incidents = json.loads(listed.stdout)
        task_incidents = [i for i in incidents if i["run_id"] == run_id and i["task_id"] == "ingest"]
        if task_incidents or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(task_incidents) == 1, f"incidents: {incidents}\n{stack.task_log(FAILING_DAG, run_id, 'ingest')}"
    incident = task_incidents[0]
    assert incident["failure_class"] == "kafka_outage"
    assert "no click events landed" in incident["error"]
    assert stack.ops_db_url.startswith("postgresql")


def test_the_page_reaches_the_smtp_server(stack, smtp, runs):
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        pages = [m for m in smtp.messages if FAILING_DAG in f"{m.subject}\n{m.text}".lower()]
        if pages:
            break
        time.sleep(0.5)
    run_id, _ = runs[FAILING_DAG]
    assert pages, (f"no page about {FAILING_DAG} among {[m.subject for m in smtp.messages]}\n"
                   f"{stack.task_log(FAILING_DAG, run_id, 'ingest')}")
    assert all(r.endswith("@techflow.example.com") for r in pages[0].recipients)


def test_add_worker_joins_the_same_queue_and_down_stops_it_too(stack, runs):
    added = stack.script("add-worker", timeout=30)
    assert added.returncode == 0, added.stderr
    assert "started worker-2" in added.stdout
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log = stack.log("worker-2")
        if "ready." in log:
            break
        time.sleep(1)
    assert "worker-2@" in log and "ready." in log, stack.logs_tail()
    assert f".> {stack.queue} " in log, "the added worker does not consume this stack's queue"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket closes


def test_missing_services_skip_with_the_reason_and_fail_under_ci(monkeypatch):
    pg_port, redis_port = _closed_port(), _closed_port()
    monkeypatch.setattr(celery_stack, "PG_PORT", pg_port)
    monkeypatch.setattr(celery_stack, "REDIS_PORT", redis_port)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=rf"PostgreSQL on 127.0.0.1:{pg_port} .*Redis on 127.0.0.1:{redis_port} "):
        require_services()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=rf"CI must run the Celery stack test, but PostgreSQL on 127.0.0.1:{pg_port}"):
        require_services()
