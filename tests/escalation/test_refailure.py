"""A failure after its incident was resolved is a new incident that pages again."""

from __future__ import annotations

from datetime import timedelta

from .conftest import T0

SOFIA = "sofia.alvarez@techflow.example.com"


def test_a_failure_after_a_manual_resolve_opens_a_new_incident_that_pages(escalation, smtp_server):
    first = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="load", error="boom", at=T0)
    assert len(smtp_server.to(SOFIA)) == 1
    escalation.resolve(first, "alice", "fixed the source; clearing the task", at=T0 + timedelta(minutes=2))

    again = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="load", error="boom again",
                                      at=T0 + timedelta(minutes=10))

    assert again != first
    assert len(smtp_server.to(SOFIA)) == 2
    reopened = escalation.get_incident(again)
    assert reopened.status == "open" and reopened.error == "boom again" and reopened.reports == 1
    assert [e["kind"] for e in reopened.timeline][:2] == ["opened", "paged"]
    old = escalation.get_incident(first)
    assert old.status == "resolved" and [e["kind"] for e in old.timeline].count("reported_again") == 0
    # the new incident deduplicates further reports of itself and escalates on its own
    assert escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="load", error="boom again",
                                     at=T0 + timedelta(minutes=11)) == again
    escalation.tick(T0 + timedelta(hours=1))
    assert escalation.get_incident(again).step_index == 2 and escalation.get_incident(first).step_index == 1


def test_a_failure_after_an_auto_resolve_opens_a_new_incident(escalation, smtp_server):
    first = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="load", error="boom", at=T0)
    assert escalation.record_success(dag_id="profit", task_id="load", run_id="r1", at=T0 + timedelta(minutes=5)) == [first]
    again = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="load", error="boom",
                                      at=T0 + timedelta(minutes=10))
    assert again != first and len(smtp_server.to(SOFIA)) == 2
    # resolving both leaves two resolved rows for the same failure: the freed keys stay unique
    escalation.resolve(again, "alice", at=T0 + timedelta(minutes=20))
    keys = {escalation.get_incident(i).dedup_key for i in (first, again)}
    assert len(keys) == 2 and all(key.startswith("profit|profit|r1|load|task#resolved-") for key in keys)
