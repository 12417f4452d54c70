"""The CLI over the Python API, Deadline Alert callbacks, classification, hand-off notices,
and the escalation.yaml checks."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import yaml

from techflow_ops.cli import main
from techflow_ops.failures import DataQualityFailure, FailureClass, KafkaOutage, StaleUpstream

from .conftest import T0


@pytest.fixture
def api(ops_db_url, connections, schedule, monkeypatch):
    """The module-level API (what the CLI and UI call) bound to the fake schedule."""
    import techflow_ops.escalation as escalation_api
    from techflow_ops.escalation.orchestrator import Escalation

    instance = Escalation(schedule=schedule)
    monkeypatch.setattr(escalation_api, "service", lambda: instance)
    return instance


def test_cli_lists_shows_acknowledges_and_resolves(api, capsys):
    incident_id = api.report_failure(pipeline_id="growth", run_id="r1", task_id="load_licenses", error="boom", at=T0)
    assert main(["incidents", "list", "--status", "open", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [i["id"] for i in listed] == [incident_id] and listed[0]["status"] == "open"
    assert main(["incidents", "ack", str(incident_id), "--user", "marcus", "--note", "on it"]) == 0
    capsys.readouterr()
    assert main(["incidents", "show", str(incident_id), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "acknowledged" and shown["acknowledged_by"] == "marcus"
    assert shown["timeline"][-1]["kind"] == "acknowledged" and shown["timeline"][-1]["message"] == "on it"
    assert {n["channel"] for n in shown["notifications"]} == {"email", "slack"}
    assert main(["incidents", "ack", str(incident_id), "--user", "marcus"]) == 1  # already acknowledged
    assert "not open" in capsys.readouterr().err
    assert main(["incidents", "resolve", str(incident_id), "--user", "marcus"]) == 0
    assert main(["incidents", "show", "424242"]) == 1
    capsys.readouterr()
    assert main(["incidents", "list", "--status", "unresolved", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_cli_tick_advances_at_the_given_instant(api, capsys, smtp_server):
    api.report_failure(pipeline_id="growth", run_id="r1", task_id="t", error="boom", at=T0)
    assert main(["escalation", "tick", "--at", (T0 + timedelta(minutes=5)).isoformat()]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["escalated"] == 1 and report["delivered"] >= 3


def test_deadline_miss_opens_a_run_level_incident(api, smtp_server, monkeypatch):
    from techflow_ops.escalation.callbacks import freshness_deadline, report_deadline_miss

    # the context Airflow's scheduler hands a Deadline Alert callback (models/deadline.py)
    context = {"dag_run": {"dag_id": "profit", "dag_run_id": "scheduled__2026-11-09T00:00:00+00:00", "state": "running",
                           "queued_at": "2026-11-09T00:00:05Z"},
               "deadline": {"id": "d1", "deadline_time": "2026-11-10T00:00:05Z"}}
    asyncio.run(report_deadline_miss(context, pipeline_id="profit", sla="24h"))
    [incident] = api.list_incidents()
    assert incident.kind == "deadline_miss" and incident.failure_class == "sla_miss" and incident.task_id is None
    assert "freshness SLA 24h missed" in incident.error
    [page] = smtp_server.to("sofia.alvarez@techflow.example.com")
    assert "SLA deadline missed" in page.subject and "#sla-miss" in page.text
    alert = freshness_deadline("profit", timedelta(hours=24))
    assert alert.interval == timedelta(hours=24)


def test_classification_by_type_then_symptoms():
    from techflow_ops.escalation.classify import classify

    assert classify(KafkaOutage("x")) is FailureClass.kafka_outage
    assert classify(StaleUpstream("x")) is FailureClass.stale_upstream
    assert classify(DataQualityFailure("x")) is FailureClass.data_quality
    assert classify(MemoryError()) is FailureClass.out_of_memory
    assert classify(RuntimeError("Task exited with return code -9 (Killed)")) is FailureClass.out_of_memory
    assert classify(TimeoutError()) is FailureClass.timeout
    assert classify(RuntimeError("NoBrokersAvailable: kafka bootstrap failed")) is FailureClass.kafka_outage
    assert classify(ValueError("bad row")) is FailureClass.task_error
    try:
        try:
            raise MemoryError()
        except MemoryError as inner:
            raise RuntimeError("join failed") from inner
    except RuntimeError as outer:
        assert classify(outer) is FailureClass.out_of_memory


def test_data_quality_pages_name_the_failed_checks(escalation, smtp_server):
    failure = DataQualityFailure(
        "2 expectations failed on profit_daily_account",
        details={"failed_expectations": [{"expectation": "expect_column_values_to_not_be_null", "column": "revenue",
                                          "observed": "12 nulls"}]},
    )
    escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="validate_outputs", exception=failure, at=T0)
    [page] = smtp_server.to("sofia.alvarez@techflow.example.com")
    assert "Data quality" in page.subject
    assert "expect_column_values_to_not_be_null" in page.text and "12 nulls" in page.text
    assert "#data-quality-failure" in page.text


@dataclass
class Handoff:
    at: datetime
    role: str
    on: str | None
    off: str | None


def test_handoff_notices_reach_people_coming_on_and_going_off_once(escalation, schedule, smtp_server):
    schedule.handoff_list = [Handoff(T0 + timedelta(minutes=1), "primary", "marcus", "sofia")]
    escalation.tick(T0)
    escalation.tick(T0 + timedelta(minutes=2))
    escalation.tick(T0 + timedelta(minutes=3))
    subjects = {m.recipients[0]: m.subject for m in smtp_server.messages}
    assert set(subjects) == {"marcus.chen@techflow.example.com", "sofia.alvarez@techflow.example.com"}
    assert "coming on" in subjects["marcus.chen@techflow.example.com"]
    assert "going off" in subjects["sofia.alvarez@techflow.example.com"]
    assert len(smtp_server.messages) == 2


def test_policy_errors_name_file_field_and_value(config_copy):
    from techflow_ops.escalation.policy import load_policy
    from techflow_ops.registry import ConfigError, load_registry

    path = config_copy / "escalation.yaml"
    data = yaml.safe_load(path.read_text())
    data["policy"]["steps"][0]["notify"] = ["oncall_primray"]
    data["policy"]["steps"][1]["wait"] = "soon"
    data["management"]["cfo"] = "nobody_here"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as first:
        load_policy(config_copy, load_registry(config_copy))
    text = str(first.value)
    assert "escalation.yaml" in text and "policy.steps[0].notify[0]" in text and "oncall_primray" in text
    assert "policy.steps[1].wait" in text and "soon" in text
    data["policy"]["steps"][0]["notify"] = ["oncall_primary"]
    data["policy"]["steps"][1]["wait"] = "10m"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"management.cfo = 'nobody_here': unknown person"):
        load_policy(config_copy, load_registry(config_copy))
    assert main(["config", "check", str(config_copy)]) == 1


def test_route_and_severity_errors_name_file_field_and_value(config_copy):
    from techflow_ops.escalation.policy import load_policy
    from techflow_ops.registry import ConfigError, load_registry

    path = config_copy / "escalation.yaml"
    data = yaml.safe_load(path.read_text())
    data["routes"]["revenue_mismatch"]["team"] = "finanse"
    data["routes"]["revenue_mismach"] = {"team": "finance", "when": "immediately"}
    data["severity"]["rules"][0]["modes"].append("kafka_outgae")
    data["management"]["cfo_for"]["pipelines"] = ["exec"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as raised:
        load_policy(config_copy, load_registry(config_copy))
    text = str(raised.value)
    assert "routes.revenue_mismatch.team = 'finanse': unknown team" in text
    assert "routes.revenue_mismach = 'revenue_mismach': unknown failure mode" in text
    assert "kafka_outgae" in text and "severity.rules[0].modes[5]" in text
    assert "management.cfo_for.pipelines[0] = 'exec': unknown pipeline" in text
    data["routes"]["revenue_mismatch"]["when"] = "soonish"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"routes.revenue_mismatch.when = 'soonish'"):
        load_policy(config_copy, load_registry(config_copy))
