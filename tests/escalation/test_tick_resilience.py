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
