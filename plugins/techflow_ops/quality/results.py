"""Validation outcomes as plain data, kept in the ops DB where the UI, KPIs and the circuit
breaker read them. No Great Expectations here: `latest_results()` is cheap to import.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from sqlalchemy import and_, func, insert, select

from .. import opsdb, settings
from .tables import quality_results


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    severity: str
    category: str
    description: str
    success: bool
    observed: dict  # e.g. {"unexpected_count": 3, "element_count": 900, "sample": [...]}


@dataclass(frozen=True)
class QualityResult:
    pipeline_id: str
    dataset: str
    partition_key: str
    run_id: str
    validated_at: datetime
    outcomes: tuple[CheckOutcome, ...]
    row_count: int | None = None
    data_docs_path: str | None = None
    duration_seconds: float = 0.0
    id: int | None = field(default=None, compare=False)

    @property
    def failed(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def failed_critical(self) -> list[CheckOutcome]:
        return [o for o in self.failed if o.severity == "critical"]

    @property
    def failed_warning(self) -> list[CheckOutcome]:
        return [o for o in self.failed if o.severity == "warning"]

    @property
    def success(self) -> bool:
        return not self.failed_critical

    @property
    def status(self) -> str:
        return "failed" if self.failed_critical else "warned" if self.failed_warning else "passed"

    @property
    def data_docs_url(self) -> str | None:
        if not self.data_docs_path:
            return None
        return (data_docs_dir() / self.data_docs_path).as_uri()

    def summary(self) -> str:
        """One line per failed check with its observed values: the page and log message."""
        head = f"{self.dataset} [{self.partition_key}] {self.status}: " + (
            f"{len(self.failed_critical)} critical, {len(self.failed_warning)} warning check(s) failed"
            if self.failed else f"all {len(self.outcomes)} checks passed"
        )
        lines = [head]
        for outcome in self.failed:
            lines.append(f"- [{outcome.severity}] {outcome.check}: {outcome.description}; observed {compact(outcome.observed)}")
        if self.data_docs_url:
            lines.append(f"Data Docs: {self.data_docs_url}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "pipeline_id": self.pipeline_id,
            "dataset": self.dataset,
            "partition": self.partition_key,
            "run_id": self.run_id,
            "status": self.status,
            "success": self.success,
            "validated_at": self.validated_at.isoformat(),
            "row_count": self.row_count,
            "evaluated": len(self.outcomes),
            "failed": [asdict(o) for o in self.failed],
            "data_docs_url": self.data_docs_url,
            "data_docs_path": self.data_docs_path,
            "duration_seconds": round(self.duration_seconds, 3),
        }


def failed_expectations(failed: list[QualityResult]) -> list[dict]:
    """The critical failures as the escalation page lists them (`details["failed_expectations"]`)."""
    return [
        {"dataset": r.dataset, "partition": r.partition_key, "check": o.check, "observed": compact(o.observed)}
        for r in failed for o in r.failed_critical
    ]


def compact(observed: dict) -> str:
    return json.dumps(observed, default=str, separators=(", ", ": "))[:400]


def data_docs_dir():
    return settings.data_dir() / "quality" / "data_docs"


def record(result: QualityResult) -> int:
    engine = opsdb.get_engine()
    with engine.begin() as conn:
        row = conn.execute(insert(quality_results).values(
            pipeline_id=result.pipeline_id, dataset=result.dataset, partition_key=result.partition_key,
            run_id=result.run_id, status=result.status, success=result.success, evaluated=len(result.outcomes),
            failed_critical=len(result.failed_critical), failed_warning=len(result.failed_warning),
            row_count=result.row_count, checks=json.dumps([asdict(o) for o in result.outcomes], default=str),
            data_docs_path=result.data_docs_path, validated_at=result.validated_at,
            duration_seconds=result.duration_seconds,
        ))
        return row.inserted_primary_key[0]


def _from_row(row) -> QualityResult:
    return QualityResult(
        pipeline_id=row.pipeline_id, dataset=row.dataset, partition_key=row.partition_key, run_id=row.run_id,
        validated_at=row.validated_at, outcomes=tuple(CheckOutcome(**o) for o in json.loads(row.checks)),
        row_count=row.row_count, data_docs_path=row.data_docs_path, duration_seconds=row.duration_seconds, id=row.id,
    )


def latest(dataset: str | None = None, pipeline_id: str | None = None,
           partition_key: str | None = None) -> list[QualityResult]:
    """The newest validation of each dataset (optionally of one dataset, pipeline or partition)."""
    newest = select(quality_results.c.dataset, func.max(quality_results.c.id).label("id")).group_by(quality_results.c.dataset)
    if partition_key:
        newest = newest.where(quality_results.c.partition_key == partition_key)
    if dataset:
        newest = newest.where(quality_results.c.dataset == dataset)
    if pipeline_id:
        newest = newest.where(quality_results.c.pipeline_id == pipeline_id)
    newest = newest.subquery()
    query = select(quality_results).join(newest, and_(quality_results.c.id == newest.c.id)).order_by(
        quality_results.c.pipeline_id, quality_results.c.dataset)
    with opsdb.get_engine().connect() as conn:
        return [_from_row(row) for row in conn.execute(query)]


def latest_results(pipeline_id: str | None = None) -> list[dict]:
    """For the UI: the newest validation of every dataset (of one pipeline), as JSON-able dicts."""
    return [result.as_dict() for result in latest(pipeline_id=pipeline_id)]


def row_count_history(dataset: str, before_partition: str, runs: int = 7) -> list[int]:
    """Row counts of the latest validation of each of the previous `runs` partitions."""
    newest = (
        select(func.max(quality_results.c.id).label("id"))
        .where(quality_results.c.dataset == dataset, quality_results.c.partition_key < before_partition,
               quality_results.c.row_count.is_not(None))
        .group_by(quality_results.c.partition_key)
        .order_by(quality_results.c.partition_key.desc())
        .limit(runs)
        .subquery()
    )
    query = select(quality_results.c.row_count).where(quality_results.c.id.in_(select(newest.c.id)))
    with opsdb.get_engine().connect() as conn:
        return [row.row_count for row in conn.execute(query)]


def row_count_bounds(history: list[int], min_ratio: float, max_ratio: float) -> tuple[int, int | None]:
    """Accepted row counts given previous runs: a share of their median up to a multiple of it."""
    median = statistics.median(history) if history else 0
    if not median:
        return 0, None
    return int(median * min_ratio), int(median * max_ratio) + 1


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
