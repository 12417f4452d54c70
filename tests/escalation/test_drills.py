"""Drills end to end: the fault is injected, the real pipeline DAG runs, the incident opens
with the right failure class and the page reaches whoever the schedule has on call now."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from techflow_ops.cli import main

pytestmark = pytest.mark.integration

DAY = date(2026, 11, 4)
DRILL_ENV = ("TECHFLOW_OPS_DB_URL", "TECHFLOW_DATA_DIR", "TECHFLOW_WAREHOUSE_URL", "AIRFLOW_CONN_TECHFLOW_WAREHOUSE",
             "TECHFLOW_DEADLINE_ALERTS", "TECHFLOW_DRILL")


@pytest.fixture
def drill_env(airflow_db, connections, monkeypatch, tmp_path):
    import os

    for key in DRILL_ENV:  # the drill sets these for its process; restore them afterwards
        if key in os.environ:
            monkeypatch.setenv(key, os.environ[key])
        else:  # set, then delete: monkeypatch records an absent key only when it had set it
            monkeypatch.setenv(key, "")
            monkeypatch.delenv(key)
    yield tmp_path
    from techflow_ops.escalation import reset_service
    from techflow_ops.pipelines import warehouse

    warehouse.dispose_engines()
    reset_service()


@pytest.mark.parametrize("drill, pipeline, failure_class, task", [
    ("kafka-outage", "engagement", "kafka_outage", "ingest"),
    ("bad-data", "engagement", "data_quality", "validate_sources"),
    ("stale-upstream", "executive_investor", "stale_upstream", "check_upstream_quality"),
    ("spark-oom", "executive_investor", "out_of_memory", "transform"),
])
def test_drill_pages_the_person_on_call_with_the_runbook_section(drill, pipeline, failure_class, task, drill_env,
                                                                 smtp_server, capsys, monkeypatch):
    from techflow_ops.oncall import get_schedule_service
    from techflow_ops.registry import get_registry

    on_call = get_schedule_service().now(datetime.now(timezone.utc)).primary
    monkeypatch.setenv("TECHFLOW_AIRFLOW_BASE_URL", "http://127.0.0.1:9")  # no Airflow answers: a local drill
    code = main(["drill", drill, "--day", DAY.isoformat(), "--workspace", str(drill_env / drill), "--json"])
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert code == 0, result
    assert f"drill {drill}: running locally" in captured.err  # it says which mode it used
    incident = result["incident"]
    assert incident["failure_class"] == failure_class and incident["task_id"] == task
    assert incident["details"]["drill"] == drill
    assert result["on_call"] == on_call and on_call in result["paged"]
    [page] = smtp_server.to(get_registry().person(on_call).email)
    anchor = {"kafka_outage": "kafka-outage", "data_quality": "data-quality-failure", "stale_upstream": "stale-upstream",
              "out_of_memory": "out-of-memory"}[failure_class]
    assert result["runbook_section"].endswith(f"/runbooks/{pipeline}#{anchor}")
    assert page.subject.startswith("[DRILL]") and f"/runbooks/{pipeline}#{anchor}" in page.text
    if failure_class == "data_quality":
        assert "duplicate_share_under_threshold" in page.text  # the failed check and its observed value are in the page
    if failure_class == "out_of_memory":
        assert "java.lang.OutOfMemoryError" in page.text
