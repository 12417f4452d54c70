"""Real DAG runs (dag.test on the Airflow metadata DB): a failing task pages the on-call
person of that instant; a failing escalation never changes a task's outcome."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
PROJECT_ROOT = Path(__file__).resolve().parents[2]


TEST_DAGS_DIR = Path(__file__).resolve().parent / "dags"


@pytest.fixture
def test_dags(airflow_db, monkeypatch):
    """The DAGs of tests/escalation/dags, in their own bundle so dag.test() can serialize them."""
    import importlib.util

    bundle = [{"name": "escalation_tests", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
               "kwargs": {"path": str(TEST_DAGS_DIR), "refresh_interval": 0}}]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundle))
    spec = importlib.util.spec_from_file_location("escalation_test_dags", TEST_DAGS_DIR / "escalation_test_dags.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DAGS


def _states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()} | {"<run>": str(dag_run.state)}


@pytest.fixture
def real_schedule(config_copy, monkeypatch, ops_db_url, connections):
    """The real on-call service over a writable config copy; the escalation API uses it."""
    from techflow_ops.escalation import reset_service
    from techflow_ops.oncall import clear_schedule_cache
    from techflow_ops.registry import clear_registry_cache

    # the published schedule lives beside the config folder (publish.file: ../oncall/...)
    shutil.copytree(PROJECT_ROOT / "include" / "oncall", config_copy.parent / "oncall")
    monkeypatch.setenv("TECHFLOW_CONFIG_DIR", str(config_copy))
    clear_registry_cache()
    clear_schedule_cache()
    reset_service()
    yield config_copy
    clear_registry_cache()
    clear_schedule_cache()
    reset_service()


def test_failed_task_pages_whoever_the_schedule_says_is_on_call_now(test_dags, real_schedule, smtp_server):
    from techflow_ops.escalation import list_incidents
    from techflow_ops.oncall import Override, get_schedule_service
    from techflow_ops.oncall.service import add_override
    from techflow_ops.registry import get_registry

    registry = get_registry()
    on_call = get_schedule_service(real_schedule).now(datetime.now(timezone.utc)).primary
    assert on_call, "the shipped rotation covers now"
    dag_run = test_dags["escalation_it_page"].test()
    assert _states(dag_run)["load_revenue"] == "failed"
    address = registry.person(on_call).email
    pages = smtp_server.to(address)
    assert len(pages) == 1 and "load_revenue" in pages[0].text and "revenue file for 2026-11-09" in pages[0].text
    [incident] = list_incidents(pipeline_id="profit")
    assert incident.task_id == "load_revenue" and incident.run_id == dag_run.run_id
    assert "try_number=1" in (incident.log_url or "")

    # Change the schedule: an override (in the ops DB, as the CLI and the web app make it) puts
    # someone else on call now; the next failure pages them, no cache cleared by hand.
    other = next(p for p in ("priya", "marcus", "sofia", "jonas") if p != on_call)
    now = datetime.now(timezone.utc)
    add_override(real_schedule, Override("it-swap", other, "primary", now - timedelta(hours=1), now + timedelta(hours=2),
                                         "integration test swap"), by="test")
    assert get_schedule_service(real_schedule).now(datetime.now(timezone.utc)).primary == other
    smtp_server.messages.clear()
    dag_run = test_dags["escalation_it_page"].test()
    now = get_schedule_service(real_schedule).now(datetime.now(timezone.utc))
    # In the investor-report period the watch is paged with the primary (profit is investor-facing).
    expected = {other} | ({now.investor_watch} if now.in_investor_period and now.investor_watch else set())
    assert sorted(r for m in smtp_server.messages for r in m.recipients) == sorted(
        registry.person(p).email for p in expected)


def test_escalation_failures_never_change_task_outcomes(test_dags, ops_db_url, monkeypatch, tmp_path, connections):
    from techflow_ops.escalation import list_incidents, reset_service

    baseline_fail = _states(test_dags["escalation_it_plain_fail"].test())
    baseline_ok = _states(test_dags["escalation_it_plain_ok"].test())
    assert baseline_fail == {"fine_task": "success", "load_revenue": "failed", "<run>": "failed"}
    assert baseline_ok == {"fine_task": "success", "load_revenue": "success", "<run>": "success"}

    # The notifier raises (nothing listens on the SMTP port): the incident is still recorded.
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", '{"conn_type": "smtp", "host": "127.0.0.1", "port": 9}')
    assert _states(test_dags["escalation_it_hooked_fail"].test()) == baseline_fail
    assert _states(test_dags["escalation_it_hooked_ok"].test()) == baseline_ok
    [incident] = list_incidents(pipeline_id="profit")
    emails = [n for n in get_incident_notifications(incident.id) if n["channel"] == "email"]
    assert emails and all(e["status"] == "pending" and "refused" in e["last_error"].lower() for e in emails)

    # The ops DB cannot even be opened: escalation fails entirely, the outcome does not change.
    monkeypatch.setenv("TECHFLOW_OPS_DB_URL", f"sqlite:///{tmp_path / 'missing-dir' / 'x' / 'ops.db'}")
    reset_service()
    assert _states(test_dags["escalation_it_hooked_fail"].test()) == baseline_fail
    assert _states(test_dags["escalation_it_hooked_ok"].test()) == baseline_ok


def get_incident_notifications(incident_id: int) -> list[dict]:
    from techflow_ops.escalation import get_incident

    return get_incident(incident_id).notifications


def test_engine_dag_fires_the_steps_whose_wait_passed(airflow_db, real_schedule, smtp_server):
    from airflow.dag_processing.dagbag import DagBag

    from techflow_ops.escalation import get_incident, report_failure
    from techflow_ops.registry import get_registry

    opened_at = datetime.now(timezone.utc) - timedelta(minutes=31)  # longer than any first-step wait
    incident_id = report_failure(pipeline_id="growth", run_id="r-engine", task_id="load_licenses", error="boom",
                                 at=opened_at)
    assert get_incident(incident_id).step_index == 1
    [first_page] = [e for e in get_incident(incident_id).timeline if e["kind"] == "paged"]
    paged_first = set(first_page["data"]["recipients"])
    smtp_server.messages.clear()
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "techflow_escalation_engine.py"))
    run = bag.dags["techflow_escalation_engine"].test()
    assert str(run.state) == "success"
    incident = get_incident(incident_id)
    assert incident.step_index == 2  # one step per tick: the next one waits its own wait from now
    registry = get_registry()
    owners = registry.pipeline("growth").owners
    paged = {r for m in smtp_server.messages for r in m.recipients}
    # the second step pages the owners, except whoever the first step reached (one page per pass)
    assert {registry.person(p).email for p in (owners.primary, owners.secondary) if p not in paged_first} <= paged
    assert not {registry.person(p).email for p in paged_first if p in registry.people} & paged


def test_a_failing_engine_tick_mails_the_engineering_team_directly(airflow_db, real_schedule, smtp_server, monkeypatch):
    """The pager's own failure must reach someone without going through the pager's outbox."""
    from airflow.dag_processing.dagbag import DagBag

    from techflow_ops import escalation
    from techflow_ops.registry import get_registry

    def broken_tick(at=None):
        raise RuntimeError("ops DB unreachable: could not connect to server")

    monkeypatch.setattr(escalation, "tick", broken_tick)
    smtp_server.messages.clear()
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "techflow_escalation_engine.py"))
    assert bag.import_errors == {}
    run = bag.dags["techflow_escalation_engine"].test()
    assert str(run.state) == "failed"
    team = get_registry().team("data_engineering")
    team_email = next(c.target for c in team.contact if c.type == "email")
    mails = smtp_server.to(team_email)
    assert len(mails) == 1, [m.recipients for m in smtp_server.messages]
    assert "escalation engine failed" in mails[0].subject
    assert "ops DB unreachable" in mails[0].text
