"""A long-running `Escalation` (the engine DAG's worker, the triggerer, the api-server) follows
edits of escalation.yaml and the registry without a restart."""

from __future__ import annotations

from datetime import timedelta

from .conftest import T0

SOFIA = "sofia.alvarez@techflow.example.com"
DANA = "dana.whitfield@techflow.example.com"
DEFAULT_FIRST_STEP = "- {level: 1, notify: [oncall_primary], wait: 5m}"


def test_the_next_page_follows_an_edited_policy(config_copy, ops_db_url, connections, schedule, smtp_server):
    from techflow_ops.escalation.orchestrator import Escalation
    from techflow_ops.opsdb import get_engine

    escalation = Escalation(engine=get_engine(ops_db_url), schedule=schedule, config_dir=config_copy)
    escalation.report_failure(pipeline_id="growth", run_id="r1", task_id="load", error="boom", at=T0)
    assert len(smtp_server.to(SOFIA)) == 1 and smtp_server.to(DANA) == []

    policy_file = config_copy / "escalation.yaml"
    text = policy_file.read_text(encoding="utf-8")
    assert text.count(DEFAULT_FIRST_STEP) == 2  # the default policy, then the `highest` tier
    policy_file.write_text(text.replace(DEFAULT_FIRST_STEP, "- {level: 1, notify: [person:dana], wait: 5m}", 1),
                           encoding="utf-8")

    escalation.report_failure(pipeline_id="growth", run_id="r2", task_id="load", error="boom", at=T0 + timedelta(minutes=1))
    assert len(smtp_server.to(DANA)) == 1
    assert len(smtp_server.to(SOFIA)) == 1  # not paged again: the new first step names Dana


def test_a_registry_edit_reaches_the_pages(config_copy, ops_db_url, connections, schedule, smtp_server):
    from techflow_ops.escalation.orchestrator import Escalation
    from techflow_ops.opsdb import get_engine

    escalation = Escalation(engine=get_engine(ops_db_url), schedule=schedule, config_dir=config_copy)
    people_file = config_copy / "people.yaml"
    people_file.write_text(people_file.read_text(encoding="utf-8").replace(SOFIA, "sofia.new@techflow.example.com"),
                           encoding="utf-8")

    escalation.report_failure(pipeline_id="growth", run_id="r1", task_id="load", error="boom", at=T0)
    assert smtp_server.to(SOFIA) == [] and len(smtp_server.to("sofia.new@techflow.example.com")) == 1
