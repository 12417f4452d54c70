"""The DAG folder: imports cleanly, one DAG per registry pipeline, each carrying its full ownership."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from techflow_ops.registry import format_duration, get_registry

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAGS = PROJECT_ROOT / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}


def test_every_registry_pipeline_has_exactly_one_dag(dagbag):
    pipelines = set(get_registry().pipelines)
    pipeline_dags = {dag_id for dag_id, dag in dagbag.dags.items() if "techflow_ownership" in (dag.default_args or {})}
    assert pipeline_dags == pipelines


@pytest.mark.parametrize("pipeline_id", sorted(get_registry().pipelines))
def test_dag_carries_ownership_from_the_registry(dagbag, pipeline_id):
    registry = get_registry()
    pipeline = registry.pipeline(pipeline_id)
    dag = dagbag.dags[pipeline_id]
    primary, secondary = registry.person(pipeline.owners.primary), registry.person(pipeline.owners.secondary)

    assert {task.owner for task in dag.tasks} == {pipeline.owners.primary}
    assert dag.owner_links[pipeline.owners.primary] == f"mailto:{primary.email}"
    assert dag.owner_links[pipeline.owners.secondary] == f"mailto:{secondary.email}"
    assert {f"area:{pipeline.business_area}", f"tier:{pipeline.criticality.value}"} <= set(dag.tags)
    assert ("investor-facing" in dag.tags) is pipeline.investor_facing
    assert dag.description.startswith(pipeline.title)
    for expected in (primary.name, secondary.name, primary.email, registry.team(pipeline.business_owner_team).name,
                     pipeline.runbook, f"/runbooks/{pipeline_id}"):
        assert expected in dag.doc_md

    block = dag.default_args["techflow_ownership"]
    json.dumps(block)  # serializable as is
    assert block["primary_owner"]["id"] == pipeline.owners.primary
    assert block["secondary_owner"]["email"] == secondary.email
    assert block["business_owner_team"]["id"] == pipeline.business_owner_team
    assert block["stakeholders"] == list(pipeline.stakeholders)
    assert block["criticality"] == pipeline.criticality.value
    assert block["investor_facing"] is pipeline.investor_facing
    assert block["freshness_sla"] == format_duration(pipeline.freshness_sla)
    assert block["resolution_sla"] == format_duration(pipeline.resolution_sla)
    assert block["outputs"] == [o.table for o in pipeline.outputs]


def test_aggregated_dags_are_scheduled_on_their_upstream_assets(dagbag):
    from techflow_ops.pipelines.dag_factory import pipeline_asset

    for pipeline in get_registry().pipelines.values():
        dag = dagbag.dags[pipeline.id]
        publish = dag.get_task("publish")
        assert pipeline_asset(pipeline.id) in publish.outlets
        if pipeline.upstream:
            scheduled_on = {asset.uri for asset in dag.timetable.asset_condition.objects}
            assert scheduled_on == {pipeline_asset(up).uri for up in pipeline.upstream}


def test_new_registry_pipeline_without_metadata_fails_the_import(config_copy, tmp_path):
    """A pipeline added with its ownership left out never becomes an owner-less DAG."""
    pipelines_file = config_copy / "pipelines.yaml"
    text = pipelines_file.read_text()
    text += """
  - id: churn_forecast
    title: Churn forecast
    description: Weekly churn forecast.
    business_area: accounts
    outputs:
      - {table: churn_forecast, grain: weekly, description: "forecast"}
    business_owner_team: accounts
    criticality: medium
    investor_facing: false
    schedule: "@weekly"
    freshness_sla: 7d
    resolution_sla: 1w
    runbook: include/runbooks/growth.md
"""
    pipelines_file.write_text(text)
    dag_file = tmp_path / "dags" / "churn_forecast.py"
    dag_file.parent.mkdir()
    dag_file.write_text('"""airflow dag"""\nfrom techflow_ops.pipelines.dag_factory import build_pipeline_dag\n'
                        'dag = build_pipeline_dag("churn_forecast")\n')
    code = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(dag_file.parent)!r})\n"
        "import json; print(json.dumps({'errors': list(bag.import_errors.values()), 'dags': list(bag.dags)}))\n"
    )
    env = {**__import__("os").environ, "TECHFLOW_CONFIG_DIR": str(config_copy)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["dags"] == []
    (error,) = result["errors"]
    assert str(pipelines_file) in error
    assert "pipelines[churn_forecast].owners" in error



def test_broken_config_makes_every_pipeline_dag_file_an_import_error_naming_file_field_value(config_copy):
    pipelines_file = config_copy / "pipelines.yaml"
    pipelines_file.write_text(pipelines_file.read_text().replace("owners: {primary: priya, secondary: marcus}",
                                                                 "owners: {primary: pryia, secondary: marcus}", 1))
    code = (
        "import json, sys\nfrom airflow.dag_processing.dagbag import DagBag\n"
        "bag = DagBag(dag_folder=sys.argv[1])\n"
        "print(json.dumps({'errors': {k.rsplit('/', 1)[-1]: v for k, v in bag.import_errors.items()}, "
        "'dags': sorted(bag.dags)}))\n"
    )
    env = {**__import__("os").environ, "TECHFLOW_CONFIG_DIR": str(config_copy)}
    out = subprocess.run([sys.executable, "-c", code, str(DAGS)], capture_output=True, text=True, env=env, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    pipeline_files = {f"{pipeline_id}.py" for pipeline_id in get_registry().pipelines}
    assert pipeline_files <= set(result["errors"])
    assert not pipeline_files & {f"{dag_id}.py" for dag_id in result["dags"]}
    for name in pipeline_files:
        message = result["errors"][name]
        assert f"{pipelines_file}:" in message
        assert "pipelines[profit].owners.primary = 'pryia': unknown person" in message
