"""A delivery backlog drains in one tick; a task timeout mid-send leaves the row recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from .conftest import T0


def test_one_tick_drains_a_backlog_larger_than_a_batch(escalation, smtp_server):
    from techflow_ops.opsdb.schema import outbox

    for n in range(120):
        escalation.report_failure(pipeline_id="profit", run_id=f"r{n}", task_id="load", error="boom", at=T0, deliver=False)
    with escalation.engine.connect() as connection:
        queued = connection.execute(select(func.count()).select_from(outbox)).scalar()
    assert queued > 200  # more than one batch of due rows

    report = escalation.tick(T0 + timedelta(seconds=30))

    assert report.delivered == queued and report.errors == []
    with escalation.engine.connect() as connection:
        assert connection.execute(select(func.count()).where(outbox.c.status == "pending")).scalar() == 0


def test_a_task_timeout_mid_send_records_the_attempt(escalation, smtp_server):
    from airflow.sdk.exceptions import AirflowTaskTimeout
    from airflow.sdk.execution_time.timeout import TimeoutPosix

    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="load", error="boom", at=T0,
                                            deliver=False)
    smtp_server.delay_seconds = 3
    try:
        with pytest.raises(AirflowTaskTimeout), TimeoutPosix(seconds=1):
            escalation.deliver(at=T0)
    finally:
        smtp_server.delay_seconds = 0
    incident = escalation.get_incident(incident_id)
    [email] = [n for n in incident.notifications if n["channel"] == "email"]
    assert email["status"] == "pending" and email["attempts"] == 1 and "interrupted: AirflowTaskTimeout" in email["last_error"]
    assert any(e["kind"] == "notification_failed" and "interrupted" in e["message"] for e in incident.timeline)
    # the claim is released: retried after the backoff, not after the 5-minute lease
    escalation.deliver(at=T0 + timedelta(seconds=31))
    [email] = [n for n in escalation.get_incident(incident_id).notifications if n["channel"] == "email"]
    assert email["status"] == "delivered" and email["attempts"] == 2


def test_delivery_stops_when_its_time_budget_is_spent(escalation, smtp_server):
    from techflow_ops.escalation.outbox import deliver_due

    assert escalation.policy.notifications.delivery_time_budget == timedelta(seconds=40)  # from escalation.yaml
    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="load", error="boom", at=T0,
                                            deliver=False)
    spent = deliver_due(escalation.engine, T0, from_email="ops@example.com", backoff=escalation.backoff,
                        time_budget=timedelta(0))
    assert spent.delivered == 0 and smtp_server.messages == []
    assert escalation.deliver(at=T0).delivered == len(escalation.get_incident(incident_id).notifications)
