"""Paging reaches the right people, with the shipped config, the real on-call schedule, a fake
clock and real SMTP/HTTP receivers: vacations in every role, the investor-report order, one
page per person per pass, routes per failure mode, severity, and warnings that never page."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from techflow_ops.failures import FAILURE_MODES, DataQualityFailure, KafkaOutage, OutOfMemory

UTC = timezone.utc
FINANCE = "finance-data@techflow.example.com"
INFRA = "infra-oncall@techflow.example.com"
OPS_LEAD = "ops-lead@techflow.example.com"
PIPELINES = ("profit", "growth", "engagement", "executive_investor", "experiment_team")
# every 16 minutes for 6 hours: each due step fires on the next tick, and every step of every pass
# fires by the end, whatever the policy (the longest is 4 steps x 30m x 3 passes)
TICKS = [timedelta(minutes=m) for m in range(1, 6 * 60, 16)]


@pytest.fixture
def real(config_copy, ops_db_url, connections):
    """An Escalation on the shipped config and the real on-call schedule of that config."""
    from techflow_ops.escalation.orchestrator import Escalation
    from techflow_ops.oncall import get_schedule_service
    from techflow_ops.opsdb import get_engine

    escalation = Escalation(engine=get_engine(ops_db_url), config_dir=config_copy)
    return escalation, get_schedule_service(config_copy)


def pages(incident) -> list[tuple[datetime, int, list[str]]]:
    """(when, pass, recipient ids) of every paged event on the incident's timeline."""
    return [(e["at"], e["data"]["cycle"], e["data"]["recipients"]) for e in incident.timeline if e["kind"] == "paged"]


def emails_to(smtp_server, address: str) -> int:
    return len(smtp_server.to(address))


# --- availability ------------------------------------------------------------------------------


def vacation_instants(schedule) -> list[datetime]:
    spans = [span for spans in schedule.rotation.vacations.values() for span in spans]
    return [start + (end - start) / 2 for start, end in spans] + [start + timedelta(hours=1) for start, _ in spans]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_nobody_on_vacation_is_ever_paged_in_any_role(real, data):
    escalation, schedule = real
    start = datetime(2026, 11, 23, tzinfo=UTC)
    instant = data.draw(st.one_of(
        st.sampled_from(vacation_instants(schedule)),
        st.integers(0, 52 * 7 * 24 * 60 - 1).map(lambda minutes: start + timedelta(minutes=minutes)),
    ), label="failure instant")
    pipeline_id = data.draw(st.sampled_from(PIPELINES), label="pipeline")
    exception = data.draw(st.sampled_from([RuntimeError("boom"), KafkaOutage("no events"), OutOfMemory("executor lost"),
                                           DataQualityFailure("x", failure_mode="missing_expenses")]), label="failure")
    incident_id = escalation.report_failure(pipeline_id=pipeline_id, run_id=f"r-{instant.isoformat()}-{pipeline_id}",
                                            task_id="t", exception=exception, at=instant, deliver=False)
    for offset in TICKS:
        escalation.tick(instant + offset, deliver=False)
    incident = escalation.get_incident(incident_id)
    escalation.resolve(incident_id, "test", at=instant + timedelta(hours=7))
    for at, _, recipients in pages(incident):
        away = set(schedule.away(at))
        assert not away & set(recipients), (at, away, recipients)
    for event in incident.timeline:
        if event["kind"] == "skipped_person":
            assert "on vacation" in event["message"]


def test_an_owner_on_vacation_is_covered_by_the_next_in_rotation(real, smtp_server):
    escalation, schedule = real
    at = datetime(2026, 12, 22, 15, tzinfo=UTC)  # Marcus (Profit's secondary owner) is away 21-25 December
    assert "marcus" in schedule.away(at)
    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", error="boom", at=at)
    for minutes in (5, 15, 30, 60):
        escalation.tick(at + timedelta(minutes=minutes))
    incident = escalation.get_incident(incident_id)
    assert emails_to(smtp_server, "marcus.chen@techflow.example.com") == 0
    skipped = [e["message"] for e in incident.timeline if e["kind"] == "skipped_person"]
    assert any("Marcus Chen (pipeline owner (secondary)) not paged: on vacation" in m for m in skipped), skipped
    rotation = list(schedule.rotation.members)
    cover = next(p for p in rotation[rotation.index("marcus") + 1:] + rotation if p not in schedule.away(at))
    assert any(f"{escalation.registry.people[cover].name} covers" in m for m in skipped), skipped
    assert any(cover in recipients for _, _, recipients in pages(incident))


# --- one page per person per pass ----------------------------------------------------------------


def test_nobody_is_paged_twice_in_one_pass_and_again_in_the_next(escalation, smtp_server, schedule):
    from .conftest import T0

    schedule.primary = "priya"  # Profit's primary owner is also on call
    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", error="boom", at=T0)
    at = T0
    for _ in range(12):
        at += timedelta(minutes=31)
        escalation.tick(at)
    by_pass: dict[int, list[str]] = {}
    for _, cycle, recipients in pages(escalation.get_incident(incident_id)):
        by_pass.setdefault(cycle, []).extend(recipients)
    assert set(by_pass) == {0, 1, 2}
    for cycle, recipients in by_pass.items():
        assert len(recipients) == len(set(recipients)), (cycle, recipients)
        assert recipients.count("priya") == 1  # step 1 as on-call primary, never again as owner in the pass
    # email and Slack once per pass
    assert emails_to(smtp_server, "priya.raman@techflow.example.com") == 3


# --- the investor-report period ------------------------------------------------------------------


def test_investor_period_pages_the_watch_then_the_whole_rotation_in_the_configured_order(real, smtp_server, config_copy, capsys):
    from techflow_ops.cli import main

    escalation, schedule = real
    at = datetime(2026, 11, 27, 15, tzinfo=UTC)
    now = schedule.now(at)
    assert now.in_investor_period and now.investor_watch
    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", error="boom", at=at)
    first = pages(escalation.get_incident(incident_id))
    assert first[0][2] == [now.primary, now.investor_watch]
    escalation.tick(at + timedelta(minutes=2, seconds=30))  # 5m x the investor-period factor 0.5
    order = [p for _, _, recipients in pages(escalation.get_incident(incident_id)) for p in recipients]
    assert sorted(order) == sorted(schedule.rotation.members)  # all four engineers, nobody twice
    assert main(["oncall", "now", "--config-dir", str(config_copy), "--at", at.isoformat(), "--pipeline", "profit",
                 "--format", "json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["page_order"] == order  # the CLI shows the order the engine pages
    for person in schedule.rotation.members:
        assert emails_to(smtp_server, escalation.registry.people[person].email) == 1


# --- routes per failure mode ---------------------------------------------------------------------


def test_a_kafka_outage_tells_infrastructure_in_the_first_tick(escalation, smtp_server, http_receiver):
    from .conftest import T0

    incident_id = escalation.report_failure(pipeline_id="engagement", run_id="r1", task_id="consume",
                                            exception=KafkaOutage("no events"), at=T0)
    assert emails_to(smtp_server, INFRA) == 1
    assert [p for path, p in http_receiver.posts if path == "/v2/enqueue"]
    escalation.acknowledge(incident_id, "sofia", at=T0 + timedelta(minutes=1))  # acknowledged at step 1: they still heard


def test_a_revenue_mismatch_tells_finance_in_the_first_tick_and_acknowledging_does_not_unsay_it(
        escalation, smtp_server, http_receiver):
    from techflow_ops.quality.results import CheckOutcome, QualityResult
    from techflow_ops.quality.suites import failure_mode

    from .conftest import T0

    failed = CheckOutcome("revenue_matches_ledger", "critical", "domain", "billed revenue reconciles", False, {})
    result = QualityResult("profit", "stg_revenue", "2026-11", "r1", T0, (failed,))
    assert failure_mode([result]) == "revenue_mismatch"  # the check names its mode
    incident_id = escalation.report_failure(
        pipeline_id="profit", run_id="r1", task_id="validate_sources",
        exception=DataQualityFailure(result.summary(), failure_mode=failure_mode([result])), at=T0)
    assert emails_to(smtp_server, FINANCE) == 1
    assert any(path.endswith("slack_finance") for path, _ in http_receiver.posts)
    [mail] = smtp_server.to(FINANCE)
    assert "FYI, no acknowledgement needed" in mail.text and "revenue does not match the accounting filings" in mail.text
    escalation.acknowledge(incident_id, "sofia", at=T0 + timedelta(minutes=1))
    escalation.tick(T0 + timedelta(hours=2))
    assert emails_to(smtp_server, FINANCE) == 1


def test_a_handover_route_is_offered_on_acknowledge_and_done_in_one_command(escalation, smtp_server, capsys):
    from techflow_ops.cli import main

    from .conftest import T0

    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="validate_sources",
                                            exception=DataQualityFailure("no expenses", failure_mode="missing_expenses"),
                                            at=T0)
    assert emails_to(smtp_server, OPS_LEAD) == 0  # after DE looked, not before
    incident = escalation.acknowledge(incident_id, "sofia", at=T0 + timedelta(minutes=2))
    [offer] = [e for e in incident.timeline if e["kind"] == "handover_offered"]
    assert offer["data"]["command"] == f"techflow-ops incidents escalate {incident_id} --to missing_expenses --user <you>"
    assert main(["incidents", "escalate", str(incident_id), "--to", "missing_expenses", "--user", "sofia",
                 "--note", "the expense export for November is empty"]) == 0
    [mail] = smtp_server.to(OPS_LEAD)
    assert "sofia escalated this incident to you: the expense export for November is empty" in mail.text
    assert main(["incidents", "reassign", str(incident_id), "--to", "person:olivia", "--user", "sofia"]) == 0
    incident = escalation.get_incident(incident_id)
    assert incident.assigned_to == "olivia"
    assert [e["kind"] for e in incident.timeline].count("escalated_manually") == 2
    assert emails_to(smtp_server, "olivia.grant@techflow.example.com") == 1
    assert main(["incidents", "escalate", str(incident_id), "--to", "team:nope", "--user", "sofia"]) == 1
    assert "use team:<id>, person:<id> or a routed failure mode" in capsys.readouterr().err


def test_every_quality_check_names_a_known_failure_mode():
    from techflow_ops.quality.suites import SUITES

    modes = {suite.mode_of(check.name) for suite in SUITES.values() for check in suite.checks}
    assert modes <= set(FAILURE_MODES)
    assert {"revenue_mismatch", "missing_expenses", "salary_duplicates", "missing_status_step", "late_events",
            "invalid_events", "duplicate_events", "kafka_outage", "missing_values", "wrong_aggregates"} <= modes


# --- severity ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pipeline_id", "exception", "investor_period", "severity"), [
    ("profit", RuntimeError("x"), False, "critical"),  # high criticality: financial reporting
    ("growth", RuntimeError("x"), False, "major"),
    ("engagement", RuntimeError("x"), False, "minor"),
    ("engagement", KafkaOutage("no events"), False, "critical"),  # the mode rule wins
    ("engagement", RuntimeError("x"), True, "major"),  # investor-facing, in the period: one level up
    ("experiment_team", RuntimeError("x"), True, "minor"),  # not investor-facing
    ("executive_investor", RuntimeError("x"), False, "critical"),
])
def test_severity_follows_criticality_mode_and_the_investor_period(escalation, schedule, pipeline_id, exception,
                                                                   investor_period, severity):
    from .conftest import T0

    schedule.in_investor_period = investor_period
    incident_id = escalation.report_failure(pipeline_id=pipeline_id, run_id="r1", task_id="t", exception=exception, at=T0,
                                            deliver=False)
    assert escalation.get_incident(incident_id).severity == severity


def test_a_critical_issue_breaches_at_48h_whatever_the_pipelines_one_week(escalation, smtp_server, capsys):
    from techflow_ops.cli import main

    from .conftest import T0

    critical = escalation.report_failure(pipeline_id="engagement", run_id="r1", task_id="t",
                                         exception=KafkaOutage("no events"), at=T0, deliver=False)
    minor = escalation.report_failure(pipeline_id="engagement", run_id="r2", task_id="t", error="x", at=T0, deliver=False)
    for incident_id in (critical, minor):
        escalation.acknowledge(incident_id, "sofia", at=T0 + timedelta(minutes=1))
    assert escalation.tick(T0 + timedelta(hours=47, minutes=59)).resolution_sla_breaches == 0
    assert escalation.tick(T0 + timedelta(hours=48)).resolution_sla_breaches == 1
    assert escalation.tick(T0 + timedelta(days=7) - timedelta(minutes=1)).resolution_sla_breaches == 0
    assert escalation.tick(T0 + timedelta(days=7)).resolution_sla_breaches == 1
    [event] = [e for e in escalation.get_incident(critical).timeline if e["kind"] == "resolution_sla_breached"]
    assert "critical issue (2d)" in event["message"]
    main(["incidents", "list"])
    listing = capsys.readouterr().out
    assert f"#{critical:<5} acknowledged critical" in listing and f"#{minor:<5} acknowledged minor" in listing


# --- warnings ------------------------------------------------------------------------------------


def test_a_warning_tells_the_business_team_and_owners_once_a_day_and_never_pages(escalation, smtp_server):
    from techflow_ops.quality.results import CheckOutcome, QualityResult
    from techflow_ops.quality.tasks import notify_warnings

    from .conftest import T0

    drop = CheckOutcome("revenue_drop_vs_previous_month", "warning", "domain", "revenue dropped", False, {})
    result = QualityResult("profit", "stg_revenue", "2026-11", "r1", T0, (drop,))
    # a validation task runs at the real time: the notice's day is today
    notify_warnings("profit", [result], {"run_id": "r1"})
    notify_warnings("profit", [result], {"run_id": "r2"})  # the same dataset again the same day
    [notice] = escalation.list_incidents()
    assert notice.severity == "notice" and notice.failure_mode == "revenue_drop" and notice.next_step_at is None
    told = sorted(r for m in smtp_server.messages for r in m.recipients)
    assert told == sorted([FINANCE, "priya.raman@techflow.example.com", "marcus.chen@techflow.example.com"])
    assert all(m.subject.startswith("[notice] ") for m in smtp_server.messages)
    assert not any("oncall" in e["message"] for e in escalation.get_incident(notice.id).timeline)
    smtp_server.messages.clear()
    escalation.tick(datetime.now(timezone.utc) + timedelta(days=8))  # no steps, no resolution SLA
    assert smtp_server.messages == []
    escalation.report_warning(pipeline_id="profit", dataset="stg_revenue", partition="2026-11", failure_mode="revenue_drop",
                              summary="again", at=datetime.now(timezone.utc) + timedelta(days=1))
    assert len(escalation.list_incidents()) == 2  # the next day is another notice


def test_a_warning_also_tells_the_team_its_mode_routes_to(escalation, smtp_server):
    """An expense spike is a warning (it can be a real cost) that the Ops team lead, who owns the
    expense feeds, must see; a second failed warning's route is told in the same notice."""
    from techflow_ops.quality.results import CheckOutcome, QualityResult
    from techflow_ops.quality.tasks import notify_warnings

    from .conftest import T0

    spike = CheckOutcome("no_expense_spike", "warning", "domain", "expense spike", False, {})
    rows = CheckOutcome("row_count_vs_history", "warning", "missing", "row count", False, {})
    notify_warnings("profit", [QualityResult("profit", "stg_expenses", "2026-11", "r1", T0, (spike, rows))],
                    {"run_id": "r1"})
    [notice] = escalation.list_incidents()
    assert notice.failure_mode == "expense_spike"
    told = {r for m in smtp_server.messages for r in m.recipients}
    assert "ops-lead@techflow.example.com" in told  # routes.expense_spike -> the operations team's contact
    assert {FINANCE, "priya.raman@techflow.example.com", "marcus.chen@techflow.example.com"} <= told
    assert notice.severity == "notice" and notice.next_step_at is None


def test_outside_the_rotations_covered_hours_no_engineer_is_paged(config_copy, ops_db_url, connections, smtp_server):
    from techflow_ops.escalation.orchestrator import Escalation
    from techflow_ops.oncall import get_schedule_service
    from techflow_ops.opsdb import get_engine

    oncall_file = config_copy / "oncall.yaml"
    text = oncall_file.read_text(encoding="utf-8")
    commented = '  # coverage: {days: [monday, tuesday, wednesday, thursday, friday], start: "09:00", end: "18:00"}'
    assert commented in text
    oncall_file.write_text(text.replace(commented, commented.replace("# ", "", 1)), encoding="utf-8")
    escalation = Escalation(engine=get_engine(ops_db_url), config_dir=config_copy)
    schedule = get_schedule_service(config_copy)
    saturday = datetime(2026, 12, 5, 15, tzinfo=UTC)
    assert set(schedule.away(saturday)) == set(schedule.rotation.members)
    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", error="boom", at=saturday)
    incident = escalation.get_incident(incident_id)
    engineers = {escalation.registry.people[p].email for p in schedule.rotation.members}
    assert not engineers & {r for m in smtp_server.messages for r in m.recipients}
    assert any("outside the rotation's covered hours" in e["message"] for e in incident.timeline
               if e["kind"] == "skipped_person")
    assert emails_to(smtp_server, FINANCE) == 1  # level 2 is reached at once: nobody in rotation can cover
