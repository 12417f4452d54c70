"""A critical quality failure in a real DAG run opens a data-quality incident whose page
names the failed expectation and its observed value; the run publishes nothing."""

from __future__ import annotations

from datetime import date

from techflow_ops.pipelines.synthetic import FaultSpec, GeneratorConfig, generate

DAY = date(2026, 12, 2)  # away from the dates other areas' tests generate in the session's data folder


def test_duplicate_events_fail_the_engagement_run_and_open_a_data_quality_incident(airflow_db):
    from techflow_ops import escalation
    from techflow_ops.pipelines.dag_factory import build_pipeline_dag

    generate(GeneratorConfig(start=date(2026, 12, 1), end=DAY, accounts=12, events_per_day=400,
                             faults=(FaultSpec.parse(f"click_events:{DAY}:duplicate_events"),)))
    run = build_pipeline_dag("engagement").test(run_conf={"date": DAY.isoformat()})
    assert run.state == "failed"

    incidents = [i for i in escalation.list_incidents(pipeline_id="engagement") if i.run_id == run.run_id]
    assert [(i.task_id, i.failure_class) for i in incidents] == [("validate_sources", "data_quality")]
    error = incidents[0].error
    assert "stg_click_events" in error and "duplicate_share_under_threshold" in error and '"observed_value": ' in error
    listed = incidents[0].details["failed_expectations"]
    assert {(f["dataset"], f["check"]) for f in listed} == {("stg_click_events", "duplicate_share_under_threshold")}
    incident = escalation.get_incident(incidents[0].id)
    assert incident.notifications, "the on-call engineer is paged"
