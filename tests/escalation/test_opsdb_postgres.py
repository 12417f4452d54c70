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
