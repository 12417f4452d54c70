"""OpenLineage facets and datasets of TechFlow's pipelines, built from `ownership` and
`datasets`: the standard `ownership` (job and dataset) and `dataQualityAssertions` facets,
and two custom ones, `techflowOperations` (job) and `techflowIncident` (run), whose JSON
Schemas ship in `lineage/schemas/` and are served at `_schemaURL` by the plugin.

Imports openlineage-python, never Airflow: the Airflow glue (`pipelines.dag_factory`,
`lineage.transformer`) calls `task_lineage()` and `job_facets()` only while OpenLineage is on.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attr
from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    JobFacet,
    RunFacet,
    data_quality_assertions_dataset,
    ownership_dataset,
    ownership_job,
)

from .. import links
from ..registry import Pipeline, Registry, get_registry
from . import ownership
from .datasets import DatasetRef, TaskDatasets, WarehouseNames, task_datasets

log = logging.getLogger(__name__)

PRODUCER = "https://github.com/techflow/techflow-ops/tree/main/plugins/techflow_ops/lineage"
SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"
OPERATIONS_FACET = "techflowOperations"
INCIDENT_FACET = "techflowIncident"
#: The plugin serves SCHEMAS_DIR under this path (`web.app`), so `_schemaURL` resolves
#: wherever the Airflow UI does; docs/lineage/ keeps a copy for readers of the repository.
SCHEMAS_PATH = "schemas"


def schema_url(facet_class: str) -> str:
    return f"{links.plugin_url(f'{SCHEMAS_PATH}/{facet_class}.json')}#/$defs/{facet_class}"


def schema(facet_class: str) -> dict:
    return json.loads((SCHEMAS_DIR / f"{facet_class}.json").read_text(encoding="utf-8"))


@attr.define
class TechflowOperationsJobFacet(JobFacet):
    """Operating a TechFlow pipeline: tier, SLAs, runbook, on-call rotation and escalation."""

    pipelineId: str = attr.field(kw_only=True)  # camelCase: OpenLineage facets name their fields so
    title: str = attr.field(kw_only=True)
    businessArea: str = attr.field(kw_only=True)
    tier: int = attr.field(kw_only=True)
    criticality: str = attr.field(kw_only=True)
    investorFacing: bool = attr.field(kw_only=True)
    freshnessSla: dict = attr.field(kw_only=True)
    resolutionSla: dict = attr.field(kw_only=True)
    runbook: dict = attr.field(kw_only=True)
    oncall: dict = attr.field(kw_only=True)
    escalation: dict = attr.field(kw_only=True)

    @staticmethod
    def _get_schema() -> str:
        return schema_url("TechflowOperationsJobFacet")


@attr.define
class TechflowIncidentRunFacet(RunFacet):
    """The incidents a failed run opened (and paged about): id, link, state, severity, failure."""

    incidents: list = attr.field(kw_only=True)

    @staticmethod
    def _get_schema() -> str:
        return schema_url("TechflowIncidentRunFacet")


def _producer(facet):
    facet._producer = PRODUCER
    return facet


def operations_facet(pipeline: Pipeline, registry: Registry, *, at: datetime, oncall: str | None) -> TechflowOperationsJobFacet:
    return _producer(TechflowOperationsJobFacet(**ownership.operations(pipeline, registry, at=at, oncall=oncall)))


def job_ownership_facet(owners: list[ownership.TypedOwner]) -> ownership_job.OwnershipJobFacet:
    return _producer(ownership_job.OwnershipJobFacet(owners=[ownership_job.Owner(name=o.name, type=o.type) for o in owners]))


def dataset_ownership_facet(owners: list[ownership.TypedOwner]) -> ownership_dataset.OwnershipDatasetFacet:
    return _producer(ownership_dataset.OwnershipDatasetFacet(
        owners=[ownership_dataset.Owner(name=o.name, type=o.type) for o in owners]))


def job_facets(pipeline_id: str, at: datetime | None = None, registry: Registry | None = None) -> dict[str, JobFacet]:
    """`ownership` (typed, with the on-call primary at `at`) and `techflowOperations`."""
    registry = registry or get_registry()
    pipeline = registry.pipeline(pipeline_id)
    at = at or datetime.now(timezone.utc)
    oncall = ownership.oncall_primary(at)
    return {
        "ownership": job_ownership_facet(ownership.owners(pipeline, registry, oncall=oncall)),
        OPERATIONS_FACET: operations_facet(pipeline, registry, at=at, oncall=oncall),
    }


# --- data quality ---------------------------------------------------------------------------

_ASSERTION_OF_KIND = {"not_null": "not_null", "unique": "unique", "row_count": "row_count", "fresh": "freshness",
                      "rows_query": "custom_sql"}
_SEVERITY = {"critical": "error", "warning": "warn"}


def assertions_facet(table: str):
    """The latest GX validation of `table` (ops DB) as `dataQualityAssertions`, or None when
    it was never validated."""
    from ..quality import results
    from ..quality.suites import SUITES

    found = results.latest(dataset=table)
    if not found:
        return None
    result = found[0]
    checks = {check.name: check for check in SUITES[table].checks} if table in SUITES else {}
    assertions = []
    for outcome in result.outcomes:
        check = checks.get(outcome.check)
        kind = getattr(getattr(check, "kind", None), "value", None)
        columns = tuple(getattr(check, "columns", None) or ())
        assertions.append(data_quality_assertions_dataset.Assertion(
            assertion=_ASSERTION_OF_KIND.get(kind, outcome.category), success=bool(outcome.success),
            column=columns[0] if len(columns) == 1 else None, severity=_SEVERITY.get(outcome.severity, outcome.severity),
            name=outcome.check, description=outcome.description,
            actual=json.dumps(outcome.observed, default=str, separators=(",", ":"))[:500],
            params={"partition": result.partition_key, "runId": result.run_id, "category": outcome.category,
                    "validatedAt": result.validated_at.isoformat()},
        ))
    return _producer(data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(assertions=assertions))


# --- one task's lineage -----------------------------------------------------------------------

@attr.define
class TaskLineage:
    """What the provider's DefaultExtractor reads from `get_openlineage_facets_on_*` (the same
    four fields as its OperatorLineage), without importing Airflow here."""

    inputs: list = attr.Factory(list)
    outputs: list = attr.Factory(list)
    run_facets: dict = attr.Factory(dict)
    job_facets: dict = attr.Factory(dict)


def warehouse_names() -> WarehouseNames:
    from ..pipelines.warehouse import warehouse_url

    return WarehouseNames(warehouse_url())


def _safely(what: str, build, default=None):
    """One facet that cannot be built (ops DB down, schedule unreadable) leaves the others."""
    try:
        return build()
    except Exception:  # lineage is best effort, the task's outcome is not ours
        log.warning("lineage: could not build %s", what, exc_info=True)
        return default


def task_lineage(pipeline_id: str, task_id: str, *, state: str = "start", dag_id: str | None = None,
                 run_id: str | None = None, at: datetime | None = None) -> TaskLineage:
    """Inputs and outputs of a pipeline task with their facets, the job facets, and on a
    failure (`state="fail"`) the incident it opened as run facet."""
    registry = get_registry()
    pipeline = registry.pipeline(pipeline_id)
    at = at or datetime.now(timezone.utc)
    datasets: TaskDatasets = task_datasets(pipeline, registry, task_id, warehouse_names())
    oncall = ownership.oncall_primary(at)
    owners = ownership.owners(pipeline, registry, oncall=oncall)
    validates = task_id.startswith("validate_") and state != "start"

    def input_dataset(ref: DatasetRef) -> InputDataset:
        facets = {}
        if validates and ref.table:
            assertions = _safely(f"the quality assertions of {ref.table}", lambda: assertions_facet(ref.table))
            if assertions is not None:
                facets["dataQualityAssertions"] = assertions
        return InputDataset(namespace=ref.namespace, name=ref.name, inputFacets=facets)

    def output_dataset(ref: DatasetRef) -> OutputDataset:
        facets: dict[str, Any] = {}
        if ref.table and ref.table != "pipeline_runs":
            facets["ownership"] = dataset_ownership_facet(owners)
            assertions = _safely(f"the quality assertions of {ref.table}", lambda: assertions_facet(ref.table))
            if assertions is not None:
                facets["dataQualityAssertions"] = assertions
        return OutputDataset(namespace=ref.namespace, name=ref.name, facets=facets)

    lineage = TaskLineage(
        inputs=[input_dataset(ref) for ref in datasets.inputs],
        outputs=[output_dataset(ref) for ref in datasets.outputs],
        job_facets={"ownership": job_ownership_facet(owners),
                    OPERATIONS_FACET: operations_facet(pipeline, registry, at=at, oncall=oncall)},
    )
    if state == "fail" and dag_id and run_id:
        incident = _safely("the incident run facet", lambda: incident_facet(dag_id, run_id, task_id))
        if incident is not None:
            lineage.run_facets[INCIDENT_FACET] = incident
    return lineage


def incident_facet(dag_id: str, run_id: str, task_id: str | None = None) -> TechflowIncidentRunFacet | None:
    """The incidents of this DAG run (of this task, given one) that page, or None."""
    from ..escalation import incidents_of_run

    found = incidents_of_run(dag_id, run_id, task_id=task_id)
    if not found:
        return None
    return _producer(TechflowIncidentRunFacet(incidents=[{
        "id": incident.id, "url": links.incident_url(incident.id), "status": incident.status,
        "severity": incident.severity, "kind": incident.kind, "taskId": incident.task_id,
        "failureClass": incident.failure_class, "failureMode": incident.failure_mode,
        "openedAt": incident.opened_at.replace(tzinfo=incident.opened_at.tzinfo or timezone.utc).isoformat(),
    } for incident in found]))
