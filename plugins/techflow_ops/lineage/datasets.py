"""What each pipeline task reads and writes, named as OpenLineage names datasets, so the
lineage graph reads landing -> staging -> outputs -> aggregates.

Warehouse tables: PostgreSQL as the naming spec says (`postgres://host:port`,
`database.schema.table`); SQLite, which the spec does not name, as `sqlite://<file path>`
and `<file stem>.<table>`. Landing folders: namespace `file`, name the folder's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from .. import settings
from ..registry import Pipeline, Registry

#: The upstream tables each aggregate's transform reads (`pipelines.transforms`: executive
#: joins profit, growth and engagement per week and month; the experiment dataset joins per
#: account and day and reads license changes and statuses from growth's staging).
#: tests/lineage checks this against the transforms' code.
AGGREGATE_INPUTS: dict[str, tuple[str, ...]] = {
    "executive_investor": ("profit_daily_account", "profit_monthly", "growth_daily", "engagement_weekly",
                           "engagement_monthly"),
    "experiment_team": ("profit_daily_account", "engagement_daily", "stg_license_changes",
                        "stg_account_status_changes"),
}
PIPELINE_RUNS_TABLE = "pipeline_runs"


@dataclass(frozen=True)
class DatasetRef:
    namespace: str
    name: str
    table: str | None = None  # the warehouse table, for datasets that are one

    @property
    def uri(self) -> str:
        return f"{self.namespace}/{self.name.lstrip('/')}" if self.namespace != "file" else f"file://{self.name}"


@dataclass(frozen=True)
class TaskDatasets:
    inputs: tuple[DatasetRef, ...]
    outputs: tuple[DatasetRef, ...]


class WarehouseNames:
    """Dataset names of the tables of one warehouse URL."""

    def __init__(self, url: str):
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            path = Path(parsed.database or ":memory:")
            path = path if path.is_absolute() or str(path) == ":memory:" else path.resolve()
            self.namespace, self._prefix = f"sqlite://{path}", (path.stem or "main")
        elif backend == "postgresql":
            self.namespace = f"postgres://{parsed.host or 'localhost'}:{parsed.port or 5432}"
            self._prefix = f"{parsed.database}.public"
        else:
            self.namespace = f"{backend}://{parsed.host or 'localhost'}" + (f":{parsed.port}" if parsed.port else "")
            self._prefix = parsed.database or backend

    def table(self, name: str) -> DatasetRef:
        return DatasetRef(self.namespace, f"{self._prefix}.{name}", table=name)


def landing(source: str) -> DatasetRef:
    return DatasetRef("file", str((settings.data_dir() / "landing" / source).resolve()))


def staging_table(source: str) -> str:
    return f"stg_{source}"


def transform_inputs(pipeline: Pipeline) -> tuple[str, ...]:
    if pipeline.sources:
        return tuple(staging_table(source) for source in pipeline.sources)
    return AGGREGATE_INPUTS.get(pipeline.id, ())


def task_datasets(pipeline: Pipeline, registry: Registry, task_id: str, names: WarehouseNames) -> TaskDatasets:
    """The datasets of one task of a pipeline DAG (the factory's task ids)."""
    outputs = tuple(names.table(o.table) for o in pipeline.outputs)
    staging = tuple(names.table(staging_table(s)) for s in pipeline.sources)
    upstream_outputs = tuple(names.table(o.table) for up in pipeline.upstream for o in registry.pipeline(up).outputs)
    by_task = {
        "check_upstream_quality": TaskDatasets(upstream_outputs, ()),
        "ingest": TaskDatasets(tuple(landing(s) for s in pipeline.sources), staging),
        "validate_sources": TaskDatasets(staging, ()),
        "transform": TaskDatasets(tuple(names.table(t) for t in transform_inputs(pipeline)), outputs),
        "validate_outputs": TaskDatasets(outputs, ()),
        "publish": TaskDatasets(outputs, (names.table(PIPELINE_RUNS_TABLE),)),
    }
    return by_task.get(task_id, TaskDatasets((), ()))
