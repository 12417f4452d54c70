"""The OpenLineage client transformer that puts TechFlow's ownership on every event of a
pipeline DAG, DAG-level events included.

Why a transformer: Airflow's provider builds the `ownership` job facet itself, from the task's
`owner` string, untyped, and writes it *over* any `ownership` an operator returns
(`OpenLineageAdapter._build_job`); its DAG-level events take no operator facets at all. The
client's `transform` transport is the documented place to amend an event before it is sent,
so the embedded default wraps its file transport in it (README "Lineage (OpenLineage)"):

    {"type": "transform", "transformer_class": "techflow_ops.lineage.transformer.TechflowEventTransformer",
     "transport": {"type": "file", "log_file_path": ".../events.jsonl", "append": true}}

For a job `<dag id>` or `<dag id>.<task id>` of a registry pipeline it sets `ownership`
(typed owners, on-call primary at the event's time) and `techflowOperations`, and on a failed
DAG run the `techflowIncident` run facet. Anything it cannot do leaves the event as it was:
a transformer that raised would drop the event, never fail a task, but losing lineage over
a missing facet is worse than sending the facet-less event.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from openlineage.client.transport.transform import EventTransformer

log = logging.getLogger(__name__)


def _event_time(event) -> datetime:
    try:
        moment = datetime.fromisoformat(str(event.eventTime).replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    except (AttributeError, ValueError):
        return datetime.now(timezone.utc)


def _dag_run_id(event) -> str | None:
    facet = (event.run.facets or {}).get("airflowDagRun")
    dag_run = getattr(facet, "dagRun", None)
    if isinstance(dag_run, dict):
        return dag_run.get("run_id")
    return getattr(dag_run, "run_id", None)


class TechflowEventTransformer(EventTransformer):
    def transform(self, event):
        try:
            return self._enrich(event)
        except Exception:  # see the module docstring
            log.warning("TechFlow lineage: event sent without TechFlow facets", exc_info=True)
            return event

    def _enrich(self, event):
        from ..registry import get_registry
        from . import ownership
        from .facets import INCIDENT_FACET, OPERATIONS_FACET, incident_facet, job_facets, job_ownership_facet

        job = getattr(event, "job", None)
        if job is None or not getattr(job, "name", None):
            return event
        dag_id, _, task_id = job.name.partition(".")
        registry = get_registry()
        pipeline = next((p for p in registry.pipelines.values() if p.dag_id == dag_id), None)
        if pipeline is None:
            return event
        facets = job.facets or {}
        operations = facets.get(OPERATIONS_FACET)
        if operations is not None:
            # The operator's hook sent the operations facet: only the owners the provider
            # overwrote need restoring, with the on-call primary that facet already names.
            oncall = (operations.oncall or {}).get("primary")
            owners = ownership.owners(pipeline, registry, oncall=oncall.partition(":")[2] if oncall else None)
            job.facets = {**facets, "ownership": job_ownership_facet(owners)}
        else:
            job.facets = {**facets, **job_facets(pipeline.id, _event_time(event), registry)}
        failed = getattr(event.eventType, "value", event.eventType) == "FAIL"
        run_facets = event.run.facets if event.run.facets is not None else {}
        if failed and not task_id and INCIDENT_FACET not in run_facets:
            run_id = _dag_run_id(event)
            incident = incident_facet(dag_id, run_id) if run_id else None
            if incident is not None:
                run_facets[INCIDENT_FACET] = incident
                event.run.facets = run_facets
        return event
