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


def test_only_a_success_of_the_same_or_a_later_run_auto_resolves(escalation):
    newer = escalation.report_failure(pipeline_id="profit", run_id="scheduled__2026-11-10", task_id="load", error="boom",
                                      at=T0, deliver=False, run_started_at=T0 - timedelta(minutes=3))
    unknown_start = escalation.report_failure(pipeline_id="profit", run_id="manual__x", task_id="load", error="boom",
                                              at=T0, deliver=False)
    assert escalation.get_incident(newer).run_started_at == T0 - timedelta(minutes=3)
    # an older backfill run, started before the failing run, succeeds afterwards: proves nothing
    assert escalation.record_success(dag_id="profit", task_id="load", run_id="backfill__2026-11-01",
                                     at=T0 + timedelta(minutes=1), run_started_at=T0 - timedelta(minutes=10)) == []
    assert escalation.get_incident(newer).status == "open"
    # a run that started after the failing one succeeds: resolves it, not the one of unknown start
    assert escalation.record_success(dag_id="profit", task_id="load", run_id="scheduled__2026-11-11",
                                     at=T0 + timedelta(hours=1), run_started_at=T0 + timedelta(minutes=55)) == [newer]
    assert escalation.get_incident(unknown_start).status == "open"
    # the same run succeeding (the task cleared and re-run) resolves its own incident whatever is known
    assert escalation.record_success(dag_id="profit", task_id="load", run_id="manual__x",
                                     at=T0 + timedelta(hours=2)) == [unknown_start]


def test_revision_0004_adds_run_started_at_to_an_existing_store(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine, inspect, text

    from techflow_ops.opsdb import current_revision, head_revision, upgrade_to_head
    from techflow_ops.opsdb.migrations_runner import _alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(_alembic_config(url), "0003_escalation_page_messages")
    engine = create_engine(url)
    with engine.begin() as connection:
        assert "run_started_at" not in {c["name"] for c in inspect(connection).get_columns("incidents")}
        connection.execute(text(
            "INSERT INTO incidents (dedup_key, kind, pipeline_id, dag_id, run_id, failure_class, error, details, status,"
            " opened_at, updated_at, reports, step_index, cycle, level)"
            " VALUES ('k', 'task_failure', 'profit', 'profit', 'r1', 'unknown', '', '{}', 'open',"
            " '2026-11-10 03:00:00', '2026-11-10 03:00:00', 1, 0, 0, 0)"))
    upgrade_to_head(url, engine=engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT dedup_key, run_started_at FROM incidents")).all() == [("k", None)]
        # 0005: an incident from before failure modes and severities has neither (read as its class, major)
        assert connection.execute(text("SELECT failure_mode, severity, assigned_to FROM incidents")).all() == [
            (None, None, None)]
    engine.dispose()
