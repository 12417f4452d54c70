"""The on-call value types: the rotation and overrides `config.py` parses into, and the shifts,
gaps and hand-offs every consumer (scheduler, escalation, web UI, CLI) codes against."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROLES = ("primary", "secondary", "investor_watch")


def utc(value: datetime) -> datetime:
    """An aware datetime in UTC; naive input is refused rather than guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no timezone; pass an aware datetime")
    return value.astimezone(timezone.utc)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Shift:
    """One person in one role for [start, end), aware UTC datetimes."""

    person: str
    role: str
    start: datetime
    end: datetime
    source: str  # "schedule" (published), "generated" (beyond the published horizon), "override"
    reason: str | None = None

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    def to_json(self) -> dict:
        return {"person": self.person, "role": self.role, "start": iso(self.start), "end": iso(self.end),
                "source": self.source, "reason": self.reason}


def shift_order(shift: "Shift") -> tuple:
    """The one sort order for shifts everywhere (published file, API results): time, then role."""
    return shift.start, ROLES.index(shift.role) if shift.role in ROLES else len(ROLES), shift.person, shift.end


def gap_order(gap: "Gap") -> tuple:
    return gap.start, ROLES.index(gap.role) if gap.role in ROLES else len(ROLES), gap.end, gap.kind, gap.reason


@dataclass(frozen=True)
class Gap:
    """An interval where a role is uncovered (`kind="uncovered"`) or wrongly covered (`"conflict"`)."""

    role: str
    start: datetime
    end: datetime
    kind: str
    reason: str
    people: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"{self.role} {self.kind} {iso(self.start)} .. {iso(self.end)}: {self.reason}"

    def to_json(self) -> dict:
        return {"role": self.role, "kind": self.kind, "start": iso(self.start), "end": iso(self.end),
                "reason": self.reason, "people": list(self.people)}


@dataclass(frozen=True)
class Handoff:
    """At `at`, `role` passes from `off` to `on` (either may be None at a coverage edge)."""

    at: datetime
    role: str
    on: str | None
    off: str | None

    def to_json(self) -> dict:
        return {"at": iso(self.at), "role": self.role, "on": self.on, "off": self.off}


@dataclass(frozen=True)
class ShiftChange:
    """A stretch of `role` that a publish moved from `previous` to `current` person."""

    role: str
    start: datetime
    end: datetime
    previous: str | None
    current: str | None
    published_at: datetime

    @property
    def affected(self) -> tuple[str, ...]:
        return tuple(sorted({p for p in (self.previous, self.current) if p}))

    def to_json(self) -> dict:
        return {"role": self.role, "start": iso(self.start), "end": iso(self.end), "previous": self.previous,
                "current": self.current, "affected": list(self.affected), "published_at": iso(self.published_at)}


@dataclass(frozen=True)
class OnCallNow:
    at: datetime
    primary: str | None
    secondary: str | None
    investor_watch: str | None
    in_investor_period: bool
    next_handoff: datetime | None
    gaps: list[str]  # which role is uncovered (or conflicting) at `at` and why; empty when covered
    off_hours: bool = False  # outside a rotation limited to certain days/hours: nobody is meant to be on call
    sources: dict[str, str] = field(default_factory=dict)  # role -> "schedule" | "generated" | "override"

    def to_json(self) -> dict:
        return {"at": iso(self.at), "primary": self.primary, "secondary": self.secondary,
                "investor_watch": self.investor_watch, "in_investor_period": self.in_investor_period,
                "next_handoff": iso(self.next_handoff), "off_hours": self.off_hours, "gaps": list(self.gaps),
                "sources": dict(self.sources)}


KINDS = ("business", "off_hours", "sleep", "weekend", "holiday")  # one per on-call hour (see burden.py)


@dataclass(frozen=True)
class BurdenWeights:
    """What an on-call hour weighs by kind (oncall.yaml `fairness`); `investor` is added on top of
    the kind for an hour inside the investor-report period. Hour bands are local to the holder."""

    business: float = 1.0
    off_hours: float = 1.5
    sleep: float = 2.0
    weekend: float = 2.0
    holiday: float = 3.0
    investor: float = 1.0
    business_start: time = time(8)
    business_end: time | None = time(18)  # None: end of day
    sleep_start: time = time(22)
    sleep_end: time = time(8)  # before sleep_start: the band crosses midnight

    def of_kinds(self) -> tuple[float, ...]:
        return tuple(getattr(self, kind) for kind in KINDS)

    def as_dict(self) -> dict[str, float]:
        return {kind: getattr(self, kind) for kind in KINDS + ("investor",)}


@dataclass(frozen=True)
class HomeCalendar:
    """Where a person lives, for their on-call burden: local time and public holidays."""

    timezone: str
    country: str | None = None
    subdivision: str | None = None


@dataclass(frozen=True)
class Rotation:
    """Everything the scheduler needs, resolved: no files, no registry."""

    id: str
    team: str
    members: tuple[str, ...]
    start: date
    shift_length: timedelta
    handoff_weekday: int
    handoff_time: time
    tz: ZoneInfo
    coverage_days: frozenset[int] | None = None  # None: around the clock, every day
    coverage_start: time = time(0)
    coverage_end: time | None = None  # None: end of day
    holiday_country: str | None = "US"
    holiday_subdivision: str | None = None
    company_days: tuple[tuple[date, str], ...] = ()
    vacations: dict[str, tuple[tuple[datetime, datetime], ...]] = field(default_factory=dict)
    investor_business_days: int = 5  # 0: no investor period
    investor_watch: bool = True
    no_back_to_back: bool = True
    swap_approval: str = "none"  # "lead": swaps and takes wait for the rotation team's lead
    horizon_weeks: int = 26
    # Each member's own calendar (people.yaml); a member without one lives in the rotation's
    # timezone and holiday calendar (`holiday_country`, which also fixes the investor period).
    homes: dict[str, HomeCalendar] = field(default_factory=dict)
    weights: BurdenWeights = BurdenWeights()

    def home(self, person: str) -> HomeCalendar:
        return self.homes.get(person) or HomeCalendar(self.tz.key, self.holiday_country, self.holiday_subdivision)

    @property
    def roles(self) -> tuple[str, ...]:
        return ROLES if self.investor_watch and self.investor_business_days else ROLES[:2]

    def first_handoff(self) -> datetime:
        """The first shift start: the hand-off time on `start` or the next hand-off weekday after it."""
        day = self.start
        if self.shift_length >= timedelta(days=7):
            day += timedelta(days=(self.handoff_weekday - day.weekday()) % 7)
        return datetime.combine(day, self.handoff_time, self.tz).astimezone(timezone.utc)


def vacation_interval(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Whole local days `start`..`end` (inclusive) in the person's own timezone, as UTC."""
    return (datetime.combine(start, time(0), tz).astimezone(timezone.utc),
            datetime.combine(end + timedelta(days=1), time(0), tz).astimezone(timezone.utc))


@dataclass(frozen=True)
class Override:
    id: str
    person: str
    role: str
    start: datetime
    end: datetime
    reason: str

    def to_shift(self) -> Shift:
        return Shift(self.person, self.role, self.start, self.end, "override", f"{self.reason} [override {self.id}]")


@dataclass(frozen=True)
class OnCallConfig:
    """A loaded rotation with its overrides, and the files they came from."""

    rotation: Rotation
    overrides: tuple[Override, ...]
    config_dir: Path
    oncall_file: Path
    overrides_file: Path
    published_file: Path
