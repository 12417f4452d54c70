"""The policy climbs levels on a fake clock: waits, acknowledgement, gaps, repeats, investor period."""

from __future__ import annotations

from datetime import timedelta

import pytest

from techflow_ops.failures import KafkaOutage, OutOfMemory

from .conftest import T0

SOFIA = "sofia.alvarez@techflow.example.com"
JONAS = "jonas.weber@techflow.example.com"
PRIYA = "priya.raman@techflow.example.com"
MARCUS = "marcus.chen@techflow.example.com"


def paged_addresses(smtp_server) -> list[str]:
    return sorted(r for m in smtp_server.messages for r in m.recipients)


def test_first_page_goes_to_the_oncall_primary_with_everything_needed(escalation, smtp_server, http_receiver):
    incident_id = escalation.report_failure(
        pipeline_id="profit", run_id="scheduled__2026-11-10", task_id="load_revenue", try_number=3,
        exception=RuntimeError("revenue file missing\nline two\nline three"),
        log_url="http://localhost:8080/dags/profit/runs/x/tasks/load_revenue?try_number=3", at=T0,
    )
    assert paged_addresses(smtp_server) == [SOFIA]
    mail = smtp_server.to(SOFIA)[0]
    for expected in ("Profit", "load_revenue", "scheduled__2026-11-10", "Try:        3", "revenue file missing",
                     "try_number=3", "priya (primary), marcus (secondary)", "escalation level 1",
                     "/runbooks/profit", f"incidents ack {incident_id}"):
        assert expected in mail.text, expected
    slack = [p for path, p in http_receiver.posts if path.endswith("slack_data_eng")]
    assert len(slack) == 1 and "@sofia" in slack[0]["text"]
    incident = escalation.get_incident(incident_id)
    assert incident.status == "open" and incident.level == 1
    assert incident.next_step_at == T0 + timedelta(minutes=5)
    assert [e["kind"] for e in incident.timeline][:2] == ["opened", "paged"]
    assert sum(e["kind"] == "notified" for e in incident.timeline) == 2


def test_levels_fire_after_their_waits_until_acknowledged(escalation, smtp_server, http_receiver):
    incident_id = escalation.report_failure(
        pipeline_id="engagement", run_id="r1", task_id="consume_clicks", exception=KafkaOutage("no events from topic clicks"), at=T0,
    )
    # the on-call primary, and Infrastructure at once (a Kafka outage's `immediately` route), as an FYI
    assert paged_addresses(smtp_server) == sorted([SOFIA, "infra-oncall@techflow.example.com"])
    [fyi] = smtp_server.to("infra-oncall@techflow.example.com")
    assert "FYI, no acknowledgement needed" in fyi.text and "[critical]" in fyi.subject
    pagerduty = [p for path, p in http_receiver.posts if path == "/v2/enqueue"]
    assert len(pagerduty) == 1, [n["last_error"] for n in escalation.get_incident(incident_id).notifications if n["channel"] == "pagerduty"]
    assert pagerduty[0]["routing_key"] == "routing-key-pagerduty_infra"
    assert pagerduty[0]["event_action"] == "trigger" and pagerduty[0]["dedup_key"] == f"techflow-incident-{incident_id}"
    assert pagerduty[0]["payload"]["class"] == "kafka_outage" and "Engagement" in pagerduty[0]["payload"]["summary"]
    assert pagerduty[0]["payload"]["severity"] == "critical"
    smtp_server.messages.clear()
    escalation.tick(T0 + timedelta(minutes=4, seconds=59))
    assert paged_addresses(smtp_server) == []  # the wait has not passed
    report = escalation.tick(T0 + timedelta(minutes=5))
    assert report.escalated == 1
    # level 1, second step: owners (sofia, jonas) and the on-call secondary (jonas): Sofia was paged in
    # this pass already, Jonas once
    assert paged_addresses(smtp_server) == [JONAS]
    smtp_server.messages.clear()
    escalation.tick(T0 + timedelta(minutes=15))
    level2 = paged_addresses(smtp_server)
    # level 2: the business owner team; Infrastructure heard at the start of this pass
    assert level2 == ["frontend@techflow.example.com"]
    assert "[TechFlow L2]" in smtp_server.messages[0].subject
    assert "#kafka-outage" in smtp_server.messages[0].text
    escalation.acknowledge(incident_id, "sofia", "looking at the consumer", at=T0 + timedelta(minutes=20))
    smtp_server.messages.clear()
    escalation.tick(T0 + timedelta(hours=5))
    assert smtp_server.messages == []  # acknowledged: no level 3
    incident = escalation.get_incident(incident_id)
    assert incident.status == "acknowledged" and incident.acknowledged_by == "sofia" and incident.level == 2
    kinds = [e["kind"] for e in incident.timeline]
    assert "escalated" in kinds and kinds[-1] == "acknowledged"


def test_level3_reaches_management_and_the_cfo_only_for_critical_financial_pipelines(escalation, smtp_server):
    escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", error="boom", at=T0)
    escalation.report_failure(pipeline_id="growth", run_id="r1", task_id="t", error="boom", at=T0)
    smtp_server.messages.clear()
    for minutes in (5, 15, 30):  # level 1 (second step), level 2, level 3
        escalation.tick(T0 + timedelta(minutes=minutes))
    level3 = [m for m in smtp_server.messages if "[TechFlow L3]" in m.subject]
    profit = sorted(r for m in level3 if "Profit" in m.subject for r in m.recipients)
    growth = sorted(r for m in level3 if "Growth" in m.subject for r in m.recipients)
    assert profit == sorted(["dana.whitfield@techflow.example.com", "ravi.patel@techflow.example.com",
                             "helen.okafor@techflow.example.com"])
    assert growth == sorted(["dana.whitfield@techflow.example.com", "ravi.patel@techflow.example.com"])


def test_a_coverage_gap_skips_the_wait_and_is_recorded(escalation, smtp_server, schedule):
    schedule.primary = None
    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", error="boom", at=T0)
    # no on-call primary: the owners and the secondary are paged at once, not 5 minutes later
    assert paged_addresses(smtp_server) == sorted([PRIYA, MARCUS, JONAS])
    incident = escalation.get_incident(incident_id)
    gap = [e for e in incident.timeline if e["kind"] == "gap"]
    assert len(gap) == 1 and "on-call primary: nobody on call" in gap[0]["message"]
    assert incident.next_step_at == T0 + timedelta(minutes=10)


def test_the_investor_period_shortens_waits_for_investor_facing_pipelines(escalation, schedule):
    schedule.in_investor_period = True
    investor = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", error="x", at=T0)
    internal = escalation.report_failure(pipeline_id="experiment_team", run_id="r1", task_id="t", error="x", at=T0)
    assert escalation.get_incident(investor).next_step_at == T0 + timedelta(minutes=2, seconds=30)
    assert escalation.get_incident(internal).next_step_at == T0 + timedelta(minutes=5)


def test_unacknowledged_incidents_repeat_the_policy_then_stay_open(escalation, smtp_server):
    incident_id = escalation.report_failure(pipeline_id="growth", run_id="r1", task_id="t", error="x", at=T0)
    at = T0
    for _ in range(20):
        at += timedelta(minutes=30)
        escalation.tick(at)
    incident = escalation.get_incident(incident_id)
    kinds = [e["kind"] for e in incident.timeline]
    assert kinds.count("repeated") == 2  # repeat: 2 in escalation.yaml
    assert kinds.count("paged") == 3 * 4
    assert kinds[-1] in ("exhausted", "notified") and "exhausted" in kinds
    assert incident.status == "open" and incident.next_step_at is None


def test_one_incident_per_failure_however_many_reports(escalation, smtp_server):
    first = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", try_number=2, error="x", at=T0)
    again = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", try_number=2, error="x", at=T0)
    other_task = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="u", error="x", at=T0)
    assert first == again != other_task
    assert escalation.get_incident(first).reports == 2
    assert len(smtp_server.to(SOFIA)) == 2  # one page per incident, not per report


def test_a_later_success_of_the_same_task_auto_resolves(escalation):
    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", error="x", at=T0,
                                            run_started_at=T0 - timedelta(minutes=5))
    other = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="u", error="x", at=T0,
                                      run_started_at=T0 - timedelta(minutes=5))
    assert escalation.record_success(dag_id="profit", task_id="t", run_id="r2", at=T0 + timedelta(hours=1),
                                     run_started_at=T0 + timedelta(minutes=50)) == [incident_id]
    assert escalation.get_incident(incident_id).status == "resolved"
    assert escalation.get_incident(incident_id).resolved_by == "auto"
    assert escalation.get_incident(other).status == "open"


def test_a_dag_run_failure_after_a_task_failure_does_not_page_twice(escalation, smtp_server):
    task_incident = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", error="x", at=T0)
    assert escalation.report_run_failure(pipeline_id="profit", dag_id="profit", run_id="r1", reason="task_failure",
                                         at=T0) == task_incident
    run_incident = escalation.report_run_failure(pipeline_id="profit", dag_id="profit", run_id="r2",
                                                 reason="timed_out", at=T0)
    assert run_incident != task_incident
    assert escalation.get_incident(run_incident).kind == "dag_failure"
    assert len(smtp_server.to(SOFIA)) == 2


def test_acknowledge_and_resolve_refuse_what_does_not_apply(escalation):
    from techflow_ops.escalation import IncidentNotFound, IncidentStateError

    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t",
                                            exception=OutOfMemory("executor lost"), at=T0)
    escalation.resolve(incident_id, "priya", at=T0)
    with pytest.raises(IncidentStateError, match="resolved"):
        escalation.acknowledge(incident_id, "priya")
    with pytest.raises(IncidentStateError, match="already resolved"):
        escalation.resolve(incident_id, "priya")
    with pytest.raises(IncidentNotFound):
        escalation.acknowledge(999_999, "priya")
