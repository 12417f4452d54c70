"""The same incident store on PostgreSQL: migrations, dedup under concurrent reports, the outbox."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from .conftest import T0

pytestmark = pytest.mark.postgres
ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def postgres_url():
    name = f"techflow_ops_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL does not answer at {ADMIN_URL}: {str(exc).splitlines()[0]}")
    yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    from techflow_ops.opsdb import dispose_engines

    dispose_engines()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_incidents_on_postgresql(postgres_url, connections, schedule, smtp_server):
    from techflow_ops.escalation.orchestrator import Escalation
    from techflow_ops.opsdb import current_revision, get_engine, head_revision

    engine = get_engine(postgres_url)
    assert current_revision(engine) == head_revision()
    escalation = Escalation(engine=engine, schedule=schedule)

    def report(_):
        return escalation.report_failure(pipeline_id="growth", run_id="r1", task_id="t", error="boom", at=T0)

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = set(pool.map(report, range(8)))
    assert len(ids) == 1
    [incident_id] = ids
    incident = escalation.get_incident(incident_id)
    assert incident.reports == 8
    assert len(smtp_server.to("sofia.alvarez@techflow.example.com")) == 1
    escalation.tick(T0 + timedelta(minutes=5))
    assert escalation.get_incident(incident_id).level == 1 and escalation.get_incident(incident_id).step_index == 2
    escalation.acknowledge(incident_id, "sofia", at=T0 + timedelta(minutes=6))
    assert escalation.list_incidents(status="acknowledged")[0].id == incident_id
    # resolving frees the dedup key (the concatenation runs on PostgreSQL too): a new failure pages
    escalation.resolve(incident_id, "sofia", at=T0 + timedelta(minutes=7))
    pages_before = len(smtp_server.to("sofia.alvarez@techflow.example.com"))
    again = escalation.report_failure(pipeline_id="growth", run_id="r1", task_id="t", error="boom", at=T0 + timedelta(minutes=8))
    assert again != incident_id and len(smtp_server.to("sofia.alvarez@techflow.example.com")) == pages_before + 1
    assert escalation.get_incident(incident_id).dedup_key == f"growth|growth|r1|t|task#resolved-{incident_id}"


def test_a_new_incidents_writes_in_one_round_trip_equal_the_statement_by_statement_ones(postgres_url):
    """On PostgreSQL the writes that queue a new incident's first step, and the read-back of its
    claimed rows, go as one multi-statement execute: the same rows (aware datetimes included) as
    the ordinary flush followed by `claimed_rows`, for every table written."""
    from sqlalchemy import event, select

    from techflow_ops.escalation import store
    from techflow_ops.opsdb import get_engine, schema

    engine = get_engine(postgres_url)
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def queue(incident_id: int, writes: store.Writes) -> str:
        writes.event(incident_id, "opened", "task failure reported", data={"n": 1})
        writes.message(store.PageMessage(key=f"incident:{incident_id}:m", incident_id=incident_id, subject="[P1] Profit",
                                         body="it's 100% down",
                                         payload="{}"))
        for channel, target in (("email", "priya@example.com"), ("slack", "@priya")):
            writes.notification(store.OutboxRow(f"incident:{incident_id}:{channel}", incident_id, "page", "priya", channel,
                                                target, None, message_key=f"incident:{incident_id}:m", role="primary"))
        writes.step([incident_id], step_index=0, cycle=0, level=1, next_step_at=T0 + timedelta(minutes=15))
        return writes.claim_new_rows(incident_id, T0 + timedelta(minutes=5))

    tables = {}
    for how in ("one round trip", "statement by statement"):
        with engine.begin() as connection:
            incident_id, _ = store.open_or_touch(connection, {
                "dedup_key": how, "kind": "task_failure", "pipeline_id": "profit", "dag_id": "profit_daily",
                "run_id": "r", "task_id": "t", "try_number": 1, "failure_class": "task_error", "error": "x",
                "details": "{}", "log_url": None, "failure_mode": "task_error", "severity": "critical"}, T0)
            writes = store.Writes(T0)
            token = queue(incident_id, writes)
            statements.clear()
            event.listen(engine, "before_cursor_execute", record)
            try:
                if how == "one round trip":
                    claimed = writes.flush(connection)[token]
                    assert statements == []  # sent on the driver's cursor, in one execute
                else:
                    assert writes._flush(connection) is None
                    claimed = store.claimed_rows(connection, token)
            finally:
                event.remove(engine, "before_cursor_execute", record)
            rows = {t.name: [dict(r._mapping) for r in connection.execute(
                select(t).where(t.c.incident_id == incident_id) if "incident_id" in t.c else select(t).where(
                    t.c.key == f"incident:{incident_id}:m"))] for t in (schema.incident_events, schema.page_messages,
                                                                            schema.outbox)}
            [incident] = connection.execute(select(schema.incidents).where(schema.incidents.c.id == incident_id)).all()
            tables[how] = (incident_id, claimed, rows, dict(incident._mapping))

    def normalised(incident_id, claimed, rows, incident):
        def strip(row):
            return {k: (v.replace(f"incident:{incident_id}:", "incident:N:") if isinstance(v, str) else v) for k, v in row.items()
                    if k not in ("id", "incident_id", "claim_token", "dedup_key")}
        return ([strip(r) for r in claimed], {t: [strip(r) for r in rs] for t, rs in rows.items()},
                strip(incident))

    one, by_statement = (normalised(*tables[how]) for how in ("one round trip", "statement by statement"))
    assert one == by_statement
    claimed = tables["one round trip"][1]
    assert [r["channel"] for r in claimed] == ["email", "slack"]
    assert claimed[0]["claimed_until"] == T0 + timedelta(minutes=5) and claimed[0]["claimed_until"].tzinfo is not None
    assert claimed[0]["message_body"] == "it's 100% down" and claimed[0]["attempts"] == 1
