"""One bad incident or one bad outbox row must not stop escalation or delivery for the rest."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from .conftest import T0

SOFIA = "sofia.alvarez@techflow.example.com"


def test_an_incident_of_a_removed_pipeline_is_parked_and_the_rest_escalate(escalation, smtp_server):
    from techflow_ops.opsdb.schema import incidents

    healthy = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", error="x", at=T0, deliver=False)
    orphan = escalation.report_failure(pipeline_id="growth", run_id="r1", task_id="t", error="x", at=T0, deliver=False)
    with escalation.engine.begin() as connection:  # as if 'growth' was renamed in pipelines.yaml
        connection.execute(update(incidents).where(incidents.c.id == orphan).values(pipeline_id="growth_v1"))
    assert escalation.get_incident(healthy).step_index == 1

    report = escalation.tick(T0 + timedelta(hours=1))

    advanced = escalation.get_incident(healthy)
    assert advanced.step_index == 2 and report.escalated == 1
    assert [e["kind"] for e in advanced.timeline].count("paged") == 2
    assert report.delivered > 0 and smtp_server.to(SOFIA)  # the outbox was delivered in the same tick
    parked = escalation.get_incident(orphan)
    assert parked.status == "open" and parked.next_step_at is None
    [error] = [e for e in parked.timeline if e["kind"] == "error"]
    assert "growth_v1" in error["message"] and "parked" in error["message"]
    assert len(report.errors) == 1 and "growth_v1" in report.errors[0] and str(orphan) in report.errors[0]
    # parked: the next tick neither retries it nor reports it again
    assert escalation.tick(T0 + timedelta(hours=2)).errors == []


def test_a_transient_db_error_marking_a_delivery_does_not_send_it_again(escalation, smtp_server, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from techflow_ops.escalation import store

    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="load", error="boom", at=T0,
                                            deliver=False)
    recording = store.add_event
    locked = []

    def locked_once(connection, incident_id, at, kind, *args, **kwargs):
        if kind == "notified" and not locked:
            locked.append(kind)
            raise OperationalError("INSERT INTO incident_events", {}, Exception("database is locked"))
        return recording(connection, incident_id, at, kind, *args, **kwargs)

    monkeypatch.setattr(store, "add_event", locked_once)
    report = escalation.deliver(at=T0)
    assert locked and report.errors == [] and report.failed == 0
    # past the claim lease: a row left claimed-but-unmarked would be sent again now
    escalation.deliver(at=T0 + timedelta(minutes=10))
    notifications = escalation.get_incident(incident_id).notifications
    assert notifications and all(n["status"] == "delivered" and n["attempts"] == 1 for n in notifications)
    assert len(smtp_server.to(SOFIA)) == 1


def test_a_row_that_raises_does_not_stop_the_rest_of_the_batch(escalation, smtp_server):
    from sqlalchemy import delete

    from techflow_ops.opsdb.schema import page_messages

    broken = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="a", error="x", at=T0, deliver=False)
    healthy = escalation.report_failure(pipeline_id="profit", run_id="r2", task_id="b", error="x", at=T0, deliver=False)
    with escalation.engine.begin() as connection:  # the broken incident's rows now fail to load their text
        connection.execute(delete(page_messages).where(page_messages.c.incident_id == broken))

    report = escalation.tick(T0 + timedelta(seconds=1))

    assert all(n["status"] == "delivered" for n in escalation.get_incident(healthy).notifications)
    rows = escalation.get_incident(broken).notifications
    assert report.errors and all(f"outbox row {n['id']}: LookupError" in " ".join(report.errors) for n in rows)
    assert all(n["status"] == "pending" and "page message" in n["last_error"] for n in rows)
    # recorded with a backoff: not attempted again within the same minute
    assert escalation.deliver(at=T0 + timedelta(seconds=2)).errors == []
