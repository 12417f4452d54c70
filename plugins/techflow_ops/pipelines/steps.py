"""The pipeline steps, in plain Python: ingest -> transform -> publish for one pipeline and date.

The DAG tasks call these same functions (one task per step), and so do `techflow-ops demo`,
the tests and the benchmarks. Which sources a pipeline ingests comes from the registry
(`pipelines.yaml` `sources`); which transform it runs from `transforms.TRANSFORMS`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from ..registry import get_registry
from ..reports.snapshots import freeze_due
from . import warehouse as wh
from .ingest import load_partition
from .synthetic import Source
from .transforms import TRANSFORMS


@dataclass
class RunSummary:
    pipeline_id: str
    date: date
    run_id: str
    loads: list[dict] = field(default_factory=list)
    outputs: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows_written(self) -> int:
        return sum(self.outputs.values())

    @property
    def rows_rejected(self) -> int:
        return sum(load["rows_rejected"] for load in self.loads)

    @property
    def missing_partitions(self) -> list[str]:
        return [label for load in self.loads for label in load["partitions_missing"]]

    def as_dict(self) -> dict:
        return {
            "pipeline_id": self.pipeline_id, "date": self.date.isoformat(), "run_id": self.run_id,
            "loads": self.loads, "outputs": self.outputs, "rows_written": self.rows_written,
            "rows_rejected": self.rows_rejected, "late_rows": sum(load["late_rows"] for load in self.loads),
            "missing_partitions": self.missing_partitions, "seconds": round(self.seconds, 3),
        }


def ingest(engine: Engine, pipeline_id: str, day: date, run_id: str, data_dir: Path | None = None) -> list[dict]:
    """Load every landing source of the pipeline for `day`; return one load result per source."""
    sources = get_registry().pipeline(pipeline_id).sources
    return [load_partition(engine, Source(source), day, run_id, data_dir).as_dict() for source in sources]


def transform(engine: Engine, pipeline_id: str, day: date, run_id: str) -> dict[str, int]:
    """Rebuild the pipeline's output partitions for `day` in one transaction; rows written per table."""
    with engine.begin() as conn:
        return TRANSFORMS[pipeline_id](conn, day, run_id)


def publish(engine: Engine, summary: RunSummary) -> list[dict]:
    """Record the published run (aggregated pipelines and the UI read `pipeline_runs`); at a
    report period's end, freeze what investors and executives get. The snapshots frozen."""
    runs = wh.pipeline_runs
    with engine.begin() as conn:
        conn.execute(delete(runs).where(runs.c.pipeline_id == summary.pipeline_id, runs.c.date == summary.date))
        conn.execute(insert(runs).values(
            pipeline_id=summary.pipeline_id, date=summary.date, run_id=summary.run_id, status="published",
            rows_written=summary.rows_written, rows_rejected=summary.rows_rejected,
            summary=json.dumps(summary.as_dict()), finished_at=datetime.now(timezone.utc).replace(tzinfo=None),
        ))
    return freeze_due(engine, summary.pipeline_id, summary.date, summary.run_id)


def run_pipeline(engine: Engine, pipeline_id: str, day: date, run_id: str | None = None,
                 data_dir: Path | None = None) -> RunSummary:
    """All steps of one pipeline for one date, as the DAG runs them."""
    started = time.perf_counter()
    summary = RunSummary(pipeline_id, day, run_id or f"manual__{pipeline_id}__{day.isoformat()}")
    summary.loads = ingest(engine, pipeline_id, day, summary.run_id, data_dir)
    summary.outputs = transform(engine, pipeline_id, day, summary.run_id)
    summary.seconds = time.perf_counter() - started
    publish(engine, summary)
    return summary


def published_dates(engine: Engine, pipeline_id: str) -> list[date]:
    runs = wh.pipeline_runs
    with engine.connect() as conn:
        return list(conn.execute(select(runs.c.date).where(runs.c.pipeline_id == pipeline_id).order_by(runs.c.date)).scalars())


def pipeline_order() -> list[str]:
    """Pipeline ids with every upstream pipeline before its consumers."""
    pipelines = get_registry().pipelines
    ordered: list[str] = []

    def visit(pipeline_id: str) -> None:
        if pipeline_id in ordered:
            return
        for upstream in pipelines[pipeline_id].upstream:
            visit(upstream)
        ordered.append(pipeline_id)

    for pipeline_id in pipelines:
        visit(pipeline_id)
    return ordered
