"""Build one Airflow DAG per pipeline from the registry (`build_pipeline_dag(pipeline_id)`).

Every DAG carries its ownership: `owner` (the primary owner's id) on every task,
`owner_links`, tags (business area, tier, investor-facing), `description`, `doc_md` with
the ownership block and runbook link, and the JSON ownership/SLA block under
`default_args["techflow_ownership"]` (serialized, so `GET /api/v2/dags/{id}/details` returns
it). Upstream pipelines publish an Asset (`pipeline_asset(id)`); aggregated pipelines are
scheduled on their upstream pipelines' Assets.

Task graph: [`check_upstream_quality` (aggregated pipelines)] -> `ingest` (pipelines with
landing sources) -> `validate_sources` -> `transform` -> `validate_outputs` -> `publish`.
Task callables are module-level functions that import the pure modules (`steps`,
`warehouse`, `quality.validation`) only when they run: parsing a DAG file imports Airflow's
authoring API, the registry, this module and the light hook modules below, never
great_expectations, pandas or scipy (`benchmarks/bench_dag_parse.py` checks).

Hooks:
- ESCALATION (`escalation.callbacks`): task callbacks in `_default_args()` (`task_hooks`);
  DAG-level callbacks and the `deadline=` alert in `_dag_kwargs()` (`dag_hooks`).
- LIMITS (`registry` `limits`, `transient`): `_default_args()` sets every task's
  `execution_timeout` and retries (exponential backoff, capped), `_dag_kwargs()` the DAG's
  `dagrun_timeout`; the transform of a Spark pipeline gets the Spark job limit. Every task
  callable is wrapped in `transient.fail_fast`: only transient failures (connections, a locked
  SQLite file) use the retries; anything else fails at once. `on_failure_callback` runs only
  after the last try (there is no `on_retry_callback`), so retries page nobody.
- QUALITY (`quality.tasks`): validation tasks and the circuit breaker in `_wire()`
  (`quality_tasks`). `PipelineTasks` names the factory's tasks; `run_context.run_dates(context)`
  gives the dates a run covers.
- RUNBOOKS (`runbooks.summary`): `_doc_md()` renders the DAG documentation.
- LINEAGE (`lineage.facets`): every task is a `PipelineTaskOperator`, whose
  `get_openlineage_facets_on_*` give Airflow's OpenLineage provider the task's datasets,
  ownership and operations facets (called only while OpenLineage is enabled).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timezone

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset, AssetAll, CronDataIntervalTimetable, Param
from airflow.sdk.definitions.timetables.assets import AssetTriggeredTimetable

from ..escalation.callbacks import dag_hooks, task_hooks
from ..links import runbook_url
from ..quality.tasks import quality_tasks
from ..registry import ConfigError, ConfigProblem, Pipeline, Registry, format_duration, get_registry
from ..registry.registry import PIPELINES_FILE
from ..runbooks.summary import runbook_summary
from .run_context import run_dates
from .sources import Source
from .transient import fail_fast

#: Multiplier of the delay between tries (Airflow 3.3 reads `retry_exponential_backoff` as a
#: float; `True` would be 1.0: a constant delay): 1 min, 2 min, 4 min, ... up to `max_retry_delay`.
RETRY_BACKOFF = 2.0
#: First logical date of the daily pipelines; runs start from the latest interval (no catchup).
START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)
OWNERSHIP_KEY = "techflow_ownership"
# Airflow validates a DAG's params on every parse, checking the schema against its dialect's
# metaschema first; draft 7 has every keyword the `date` param uses and checks faster than 2020-12.
PARAM_SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"


def pipeline_asset(pipeline_id: str) -> Asset:
    """The Asset a pipeline's `publish` task updates once its outputs for a date are written."""
    return Asset(name=f"techflow_{pipeline_id}_published", uri=f"x-techflow://pipelines/{pipeline_id}")


# --- task callables (run in the worker; parse time does not import what they import) --------

def _engine():
    from techflow_ops.pipelines import warehouse

    return warehouse.get_engine(warehouse.warehouse_url_in_airflow())


def _record_work(context, started: float) -> None:
    """XCom `work_seconds`: the task's own work (its SQL), without process start, imports and
    engine set-up; `benchmarks/bench_pipeline_day.py` reads it (validate tasks return theirs)."""
    context["ti"].xcom_push(key="work_seconds", value=round(time.perf_counter() - started, 4))


def ingest_task(pipeline_id: str, **context) -> list[dict]:
    from techflow_ops.pipelines import steps

    engine, run_id, started = _engine(), context["run_id"], time.perf_counter()
    loads = [load for day in run_dates(context) for load in steps.ingest(engine, pipeline_id, day, run_id)]
    _record_work(context, started)
    return loads


def transform_task(pipeline_id: str, **context) -> dict[str, dict[str, int]]:
    from techflow_ops.pipelines import steps

    engine, run_id, started = _engine(), context["run_id"], time.perf_counter()
    outputs = {day.isoformat(): steps.transform(engine, pipeline_id, day, run_id) for day in run_dates(context)}
    _record_work(context, started)
    return outputs


def publish_task(pipeline_id: str, **context) -> list[dict]:
    from techflow_ops.pipelines import steps

    ti, run_id, engine, started = context["ti"], context["run_id"], _engine(), time.perf_counter()
    loads = (ti.xcom_pull(task_ids="ingest") or []) if context["dag"].has_task("ingest") else []
    outputs = ti.xcom_pull(task_ids="transform") or {}
    published = []
    for day in run_dates(context):
        summary = steps.RunSummary(pipeline_id, day, run_id,
                                    loads=[load for load in loads if _load_covers(load, day)],
                                    outputs=outputs.get(day.isoformat(), {}))
        steps.publish(engine, summary)
        published.append(summary.as_dict())
    context["outlet_events"][pipeline_asset(pipeline_id)].extra = {
        "date": published[-1]["date"], "dates": [p["date"] for p in published],
    }
    _record_work(context, started)
    return published


def _load_covers(load: dict, day: date) -> bool:
    partition = date.fromisoformat(load["partition_date"])
    return partition == day or (partition.day == 1 and (partition.year, partition.month) == (day.year, day.month))


# --- lineage hook (the provider calls these in the task's process, only when it is enabled) ----

class PipelineTaskOperator(PythonOperator):
    """A PythonOperator that tells OpenLineage what its pipeline task reads and writes, who owns
    it and how it is operated. Its own class name matters: the provider's PythonExtractor
    claims tasks whose type is exactly `PythonOperator` and never asks them."""

    def _lineage(self, state: str, task_instance=None):
        from ..lineage.facets import task_lineage

        return task_lineage(self.op_kwargs["pipeline_id"], self.task_id, state=state,
                            dag_id=getattr(task_instance, "dag_id", None), run_id=getattr(task_instance, "run_id", None))

    def get_openlineage_facets_on_start(self):
        return self._lineage("start")

    def get_openlineage_facets_on_complete(self, task_instance):
        return self._lineage("complete", task_instance)

    def get_openlineage_facets_on_failure(self, task_instance):
        return self._lineage("fail", task_instance)


# --- the DAG -------------------------------------------------------------------------------

class SharedBlock(dict):
    """Read-only metadata in `default_args` that every task shares instead of copying: Airflow
    deep-copies `default_args` into each task on every parse. Serialized as a plain dict."""

    def __deepcopy__(self, memo):
        return self


@dataclass
class PipelineTasks:
    ingest: PipelineTaskOperator | None
    transform: PipelineTaskOperator
    publish: PipelineTaskOperator


def ownership_block(pipeline: Pipeline, registry: Registry) -> dict:
    """The JSON ownership/SLA block stored in `default_args[OWNERSHIP_KEY]`."""

    def person(person_id: str) -> dict:
        p = registry.person(person_id)
        return {"id": p.id, "name": p.name, "email": p.email, "slack": p.slack, "timezone": p.timezone}

    team = registry.team(pipeline.business_owner_team)
    return {
        "pipeline_id": pipeline.id,
        "title": pipeline.title,
        "business_area": pipeline.business_area,
        "primary_owner": person(pipeline.owners.primary),
        "secondary_owner": person(pipeline.owners.secondary),
        "business_owner_team": {"id": team.id, "name": team.name,
                                "contact": [c.model_dump() for c in team.contact]},
        "stakeholders": list(pipeline.stakeholders),
        "consumers": list(pipeline.consumers),
        "criticality": pipeline.criticality.value,
        "tier": pipeline.criticality.tier,
        "investor_facing": pipeline.investor_facing,
        "freshness_sla": format_duration(pipeline.freshness_sla),
        "resolution_sla": format_duration(pipeline.resolution_sla),
        "resolve_by_month_end": pipeline.resolve_by_month_end,
        "outputs": [output.table for output in pipeline.outputs],
        "upstream": list(pipeline.upstream),
        "runbook": pipeline.runbook,
        "runbook_url": runbook_url(pipeline.id),
    }


def _schedule(pipeline: Pipeline):
    if pipeline.upstream:
        # The timetable Airflow would make of the list of Assets: Airflow hashes the schedule
        # on every `>>` while parsing, and a timetable hashes far cheaper than a list of Assets.
        # Full Assets, not `Asset.ref(name=...)`: with name references under Airflow 3.3.2 the
        # aggregate runs did not get their upstream events' dates.
        return AssetTriggeredTimetable(AssetAll(*(pipeline_asset(up) for up in pipeline.upstream)))
    # A run starts when its interval ends and processes that interval (the day that just
    # ended for @daily), so its data interval start is the date the run covers.
    return CronDataIntervalTimetable(pipeline.schedule, timezone="UTC")


def _tags(pipeline: Pipeline) -> list[str]:
    return [
        "techflow",
        f"area:{pipeline.business_area}",
        f"tier:{pipeline.criticality.value}",
        "investor-facing" if pipeline.investor_facing else "internal",
    ]


def _doc_md(pipeline: Pipeline, registry: Registry) -> str:
    primary, secondary = registry.person(pipeline.owners.primary), registry.person(pipeline.owners.secondary)
    team = registry.team(pipeline.business_owner_team)
    trigger = pipeline.schedule or "when " + ", ".join(pipeline.upstream) + " have published"
    outputs = "\n".join(f"| `{o.table}` | {o.grain} | {o.description} |" for o in pipeline.outputs)
    return f"""# {pipeline.title}

{pipeline.description}

## Ownership
| role | who |
|---|---|
| primary owner | {primary.name} ([{primary.email}](mailto:{primary.email}), Slack {primary.slack or '-'}) |
| secondary owner | {secondary.name} ([{secondary.email}](mailto:{secondary.email}), Slack {secondary.slack or '-'}) |
| business owner | {team.name} |
| stakeholders | {", ".join(pipeline.stakeholders) or "-"} |
| criticality | {pipeline.criticality.value}{" (investor-facing)" if pipeline.investor_facing else ""} |
| freshness SLA | {format_duration(pipeline.freshness_sla)} |
| resolution SLA | {format_duration(pipeline.resolution_sla)}{" (and before month end)" if pipeline.resolve_by_month_end else ""} |
| runs | {trigger} |

{runbook_summary(pipeline.id, registry)}
## Outputs
| table | grain | what |
|---|---|---|
{outputs}
"""


def _limit_args(pipeline: Pipeline) -> dict:
    """Task time limit and retries from the registry's `limits` (transient failures only retry)."""
    limits = pipeline.limits
    return {
        "execution_timeout": limits.task,
        "retries": limits.retries,
        "retry_delay": limits.retry_delay,
        "retry_exponential_backoff": RETRY_BACKOFF,
        "max_retry_delay": limits.max_retry_delay,
    }


def _default_args(pipeline: Pipeline, registry: Registry) -> dict:
    return {
        "owner": pipeline.owners.primary,
        OWNERSHIP_KEY: SharedBlock(ownership_block(pipeline, registry)),
        **_limit_args(pipeline),
        **task_hooks(pipeline.id),
    }


def _dag_kwargs(pipeline: Pipeline, registry: Registry) -> dict:
    return {"dagrun_timeout": pipeline.limits.run, **dag_hooks(pipeline)}


def _wire(pipeline: Pipeline, tasks: PipelineTasks) -> None:
    quality = quality_tasks(pipeline, operator_class=PipelineTaskOperator, wrap=fail_fast)
    if quality.circuit_breaker is not None:
        quality.circuit_breaker >> (tasks.ingest or tasks.transform)
    if tasks.ingest is not None:
        tasks.ingest >> quality.validate_sources >> tasks.transform
    tasks.transform >> quality.validate_outputs >> tasks.publish


def _check_sources(pipeline: Pipeline, registry: Registry) -> None:
    known = {source.value for source in Source}
    problems = [
        ConfigProblem(str(registry.config_dir / PIPELINES_FILE), f"pipelines[{pipeline.id}].sources[{index}]", source,
                      f"no landing loader for this source (known: {', '.join(sorted(known))})")
        for index, source in enumerate(pipeline.sources) if source not in known
    ]
    if problems:
        raise ConfigError(problems)


def build_pipeline_dag(pipeline_id: str, registry: Registry | None = None) -> DAG:
    """The DAG of one registry pipeline; raises ConfigError if the registry is invalid."""
    registry = registry or get_registry()
    pipeline = registry.pipeline(pipeline_id)
    _check_sources(pipeline, registry)
    owner_links = {
        pid: f"mailto:{registry.person(pid).email}" for pid in (pipeline.owners.primary, pipeline.owners.secondary)
    }
    with DAG(
        dag_id=pipeline.dag_id,
        description=f"{pipeline.title}: {pipeline.description}"[:1000],
        schedule=_schedule(pipeline),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=_tags(pipeline),
        owner_links=owner_links,
        doc_md=_doc_md(pipeline, registry),
        default_args=_default_args(pipeline, registry),
        params={"date": Param(None, type=["null", "string"], format="date", **{"$schema": PARAM_SCHEMA_DIALECT},
                              description="Process this date (YYYY-MM-DD) instead of the run's data interval")},
        **_dag_kwargs(pipeline, registry),
    ) as dag:
        op_kwargs = {"pipeline_id": pipeline.id}
        tasks = PipelineTasks(
            ingest=PipelineTaskOperator(task_id="ingest", python_callable=fail_fast(ingest_task), op_kwargs=op_kwargs)
            if pipeline.sources else None,
            transform=PipelineTaskOperator(task_id="transform", python_callable=fail_fast(transform_task),
                                           op_kwargs=op_kwargs, execution_timeout=pipeline.task_limit("transform")),
            publish=PipelineTaskOperator(task_id="publish", python_callable=fail_fast(publish_task), op_kwargs=op_kwargs,
                                         outlets=[pipeline_asset(pipeline.id)]),
        )
        _wire(pipeline, tasks)
    return dag
