"""The resolution SLA: an incident left unresolved past its pipeline's resolution SLA (or past
the month end, for resolve_by_month_end pipelines) is reported once to management."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from .conftest import T0

DANA = "dana.whitfield@techflow.example.com"
RAVI = "ravi.patel@techflow.example.com"
HELEN = "helen.okafor@techflow.example.com"


def breach_mails(smtp_server) -> list:
    return [m for m in smtp_server.messages if m.subject.startswith("[RESOLUTION SLA BREACHED]")]


def breach_events(incident) -> list[dict]:
    return [e for e in incident.timeline if e["kind"] == "resolution_sla_breached"]


def test_unresolved_past_the_resolution_sla_reaches_management_once(escalation, smtp_server):
    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="load_revenue",
                                            exception=RuntimeError("boom"), at=T0)
    resolved_id = escalation.report_failure(pipeline_id="profit", run_id="r2", task_id="load_revenue",
                                            exception=RuntimeError("boom"), at=T0)
    escalation.acknowledge(incident_id, "sofia", at=T0 + timedelta(minutes=1))  # ack stops paging, not the SLA clock
    escalation.resolve(resolved_id, "sofia", at=T0 + timedelta(hours=1))
    report = escalation.tick(T0 + timedelta(hours=47, minutes=59))  # profit: resolution SLA 48h
    assert report.resolution_sla_breaches == 0 and breach_mails(smtp_server) == []

    report = escalation.tick(T0 + timedelta(hours=48))
    assert report.resolution_sla_breaches == 1
    mails = breach_mails(smtp_server)
    # management: DE lead, BA lead, and the CFO because profit is a critical financial pipeline
    assert sorted(r for m in mails for r in m.recipients) == sorted([DANA, RAVI, HELEN])
    assert all(f"incidents ack {incident_id}" in m.text and "resolution SLA of Profit (2d)" in m.text for m in mails)
    # one stored page text; each delivery says why its recipient is paged
    [cfo_mail] = [m for m in mails if HELEN in m.recipients]
    assert "You are paged as: management: CFO (critical financial pipeline)" in cfo_mail.text
    [event] = breach_events(escalation.get_incident(incident_id))
    assert event["level"] == 3 and sorted(event["data"]["recipients"]) == ["dana", "helen", "ravi"]
    assert breach_events(escalation.get_incident(resolved_id)) == []

    smtp_server.messages.clear()
    assert escalation.tick(T0 + timedelta(hours=60)).resolution_sla_breaches == 0  # once per incident
    assert breach_mails(smtp_server) == []
    assert len(breach_events(escalation.get_incident(incident_id))) == 1
    assert escalation.get_incident(incident_id).status == "acknowledged"


def test_resolve_by_month_end_breaches_when_the_month_ends(escalation, smtp_server):
    new_york = ZoneInfo("America/New_York")  # resolution_sla.month_end_timezone
    opened = datetime(2026, 11, 30, 20, 0, tzinfo=new_york).astimezone(timezone.utc)
    month_end = datetime(2026, 12, 1, 0, 0, tzinfo=new_york).astimezone(timezone.utc)
    incident_id = escalation.report_failure(pipeline_id="executive_investor", run_id="r1", task_id="publish",
                                            exception=RuntimeError("boom"), at=opened)
    escalation.acknowledge(incident_id, "jonas", at=opened + timedelta(minutes=2))
    assert escalation.tick(month_end - timedelta(seconds=1)).resolution_sla_breaches == 0
    assert escalation.tick(month_end).resolution_sla_breaches == 1  # 4 hours old, well inside its 48h
    [event] = breach_events(escalation.get_incident(incident_id))
    assert "or by the month end" in event["message"]
    # the executive/investor report is critical (criticality highest): the CFO hears too
    assert sorted(r for m in breach_mails(smtp_server) for r in m.recipients) == sorted([DANA, RAVI, HELEN])
    [cfo_mail] = [m for m in breach_mails(smtp_server) if HELEN in m.recipients]
    assert "You are paged as: management: CFO (critical investor report)" in cfo_mail.text
