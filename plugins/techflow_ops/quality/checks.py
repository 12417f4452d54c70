"""What a quality check is, independent of Great Expectations.

A suite is a list of `Check`s over one dataset (a warehouse table) validated on one
partition (the day or month a run covers). The runner turns each check into one GX
expectation; severities decide what a failure does: critical fails the task (and pages
through the escalation callbacks), warning is recorded and shown only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum


class Severity(str, Enum):
    critical = "critical"
    warning = "warning"


class Category(str, Enum):
    missing = "missing"
    duplicate = "duplicate"
    stale = "stale"
    domain = "domain"


DEFAULT_MODES = {
    Category.missing: "missing_data", Category.duplicate: "duplicate_rows", Category.stale: "stale_data",
    Category.domain: "invalid_values",
}


class Kind(str, Enum):
    not_null = "not_null"  # column: no NULLs
    row_count = "row_count"  # > 0 and within bounds of previous runs' counts
    unique = "unique"  # columns: no two rows share the key
    fresh = "fresh"  # column: newest value within the pipeline's freshness SLA
    rows_query = "rows_query"  # query: rows it returns are the violations


class Grain(str, Enum):
    daily = "daily"
    weekly = "weekly"  # Monday to Sunday, like the weekly outputs' week_start
    monthly = "monthly"


@dataclass(frozen=True)
class Check:
    name: str
    kind: Kind
    category: Category
    severity: Severity
    description: str
    columns: tuple[str, ...] = ()
    # rows_query: SQL returning one row per violation (placeholders: see `suites`).
    # `threshold` is overridden by the pipeline's registry target named `target`, if set.
    query: str | None = None
    threshold: float | None = None
    target: str | None = None
    # The failure mode a failure of this check is (failures.FAILURE_MODES); None: the suite's
    # mode for the check's category.
    mode: str | None = None

    def __post_init__(self) -> None:
        needs_columns = self.kind in (Kind.not_null, Kind.unique, Kind.fresh)
        if needs_columns and not self.columns:
            raise ValueError(f"check {self.name!r}: kind {self.kind.value} needs columns")
        if self.kind in (Kind.not_null, Kind.fresh) and len(self.columns) != 1:
            raise ValueError(f"check {self.name!r}: kind {self.kind.value} takes exactly one column, got {self.columns}")
        if (self.kind is Kind.rows_query) != (self.query is not None):
            raise ValueError(f"check {self.name!r}: a query is required for rows_query checks and only for them")


@dataclass(frozen=True)
class Partition:
    """The slice of a dataset one run covers: [start, end) on the partition column."""

    start: date
    end: date
    grain: Grain

    @classmethod
    def covering(cls, day: date | datetime, grain: Grain) -> "Partition":
        day = day.date() if isinstance(day, datetime) else day
        if grain is Grain.daily:
            return cls(day, day + timedelta(days=1), grain)
        if grain is Grain.weekly:
            monday = day - timedelta(days=day.weekday())
            return cls(monday, monday + timedelta(days=7), grain)
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return cls(first, following, grain)

    @property
    def key(self) -> str:
        return self.start.strftime("%Y-%m") if self.grain is Grain.monthly else self.start.isoformat()

    def previous(self) -> "Partition":
        return Partition.covering(self.start - timedelta(days=1), self.grain)


@dataclass(frozen=True)
class DatasetSuite:
    """The checks of one dataset, which pipeline owns it and how it is partitioned."""

    dataset: str  # warehouse table
    pipeline_id: str
    partition_column: str
    grain: Grain
    checks: tuple[Check, ...]
    role: str = "source"  # "source" (validated after ingest) or "output" (before publish)
    # Row count may not fall below this share of the median of previous runs' counts.
    min_row_ratio: float = 0.5
    max_row_ratio: float = 3.0
    # (category, failure mode) for this dataset's checks that name no mode of their own.
    category_modes: tuple[tuple[Category, str], ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.checks]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"suite {self.dataset!r}: duplicate check names {sorted(duplicates)}")

    def mode_of(self, check_name: str) -> str:
        """The failure mode a failure of the named check is."""
        check = next(c for c in self.checks if c.name == check_name)
        return check.mode or dict(self.category_modes).get(check.category) or DEFAULT_MODES[check.category]

    @property
    def name(self) -> str:
        return f"{self.pipeline_id}.{self.dataset}"

    def check(self, name: str) -> Check:
        for candidate in self.checks:
            if candidate.name == name:
                return candidate
        raise KeyError(f"suite {self.name}: no check named {name!r}")
