"""The KPI window and the plain records the KPIs are computed from (README "KPIs and health").

Every instant is an aware UTC datetime. `History` is what `load_history` reads from the real
sources and what tests and benchmarks build by hand: the computation never touches a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from ..oncall.model import Shift, utc

__all__ = ["DqResult", "History", "Incident", "InvestorSnapshot", "Page", "Published", "Run", "Shift", "StepEvent",
           "Window"]


@dataclass(frozen=True)
class Window:
    """The half-open interval [start, end) of aware UTC instants the KPIs are asked for; `tz` is
    only how its first and last day are named in the output ("from", "to")."""

    start: datetime
    end: datetime
    tz: str = "UTC"

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))
        if self.end <= self.start:
            raise ValueError(f"window end {self.end.isoformat()} is not after its start {self.start.isoformat()}")

    @classmethod
    def from_dates(cls, from_date: date, to_date: date, tz: str | ZoneInfo = "UTC") -> "Window":
        """Whole local days `from_date`..`to_date`, both inclusive, in `tz` (DST-correct: a
        local day is 23 or 25 hours long on a change)."""
        if from_date > to_date:
            raise ValueError(f"from {from_date.isoformat()} is after to {to_date.isoformat()}")
        zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        start = datetime.combine(from_date, time(0), zone).astimezone(timezone.utc)
        end = datetime.combine(to_date + timedelta(days=1), time(0), zone).astimezone(timezone.utc)
        return cls(start, end, zone.key)

    @property
    def from_date(self) -> date:
        return self.start.astimezone(ZoneInfo(self.tz)).date()

    @property
    def to_date(self) -> date:
        return (self.end - timedelta(microseconds=1)).astimezone(ZoneInfo(self.tz)).date()

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True)
class Run:
    """One Airflow DAG run of a pipeline (dag_run): state queued | running | success | failed."""

    pipeline_id: str
    run_id: str
    state: str
    queued_at: datetime  # when it was queued (the Deadline Alert's reference): the run's instant
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Published:
    """A day of a pipeline's data published to the warehouse (`pipeline_runs`), and when."""

    pipeline_id: str
    day: date
    at: datetime


@dataclass(frozen=True)
class Incident:
    """An ops-DB incident with its first acknowledgement (from its timeline)."""

    id: int
    pipeline_id: str
    kind: str  # task_failure | dag_failure | deadline_miss | dq_warning | ...
    severity: str | None  # critical | major | minor | notice
    opened_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    run_id: str | None = None  # the DAG run it was reported for: its data's due time


@dataclass(frozen=True)
class Page:
    """One page to one recipient (outbox rows of purpose `page`, one per page whatever the
    number of the recipient's contact methods)."""

    recipient: str
    at: datetime
    incident_id: int | None


@dataclass(frozen=True)
class StepEvent:
    """An escalation step of an incident's timeline: `paged` (with who) or `exhausted`."""

    incident_id: int
    at: datetime
    kind: str
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class DqResult:
    pipeline_id: str
    dataset: str
    validated_at: datetime
    success: bool  # no critical check failed
    evaluated: int  # checks evaluated
    failed_critical: int = 0
    failed_warning: int = 0

    @property
    def passed_checks(self) -> int:
        return self.evaluated - self.failed_critical - self.failed_warning

    @property
    def status(self) -> str:
        return "failed" if self.failed_critical else "warned" if self.failed_warning else "passed"


@dataclass(frozen=True)
class InvestorSnapshot:
    """The latest frozen version of a month's investor report: complete or not."""

    month: date  # first day of the month
    complete: bool


@dataclass
class History:
    runs: list[Run] = field(default_factory=list)
    published: list[Published] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    steps: list[StepEvent] = field(default_factory=list)
    dq_results: list[DqResult] = field(default_factory=list)
    shifts: list[Shift] = field(default_factory=list)
    investor_snapshots: list[InvestorSnapshot] = field(default_factory=list)
