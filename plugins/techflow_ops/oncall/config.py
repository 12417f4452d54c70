"""The rotation config (`oncall.yaml`) and the overrides file (`oncall_overrides.yaml`).

Both are read with the registry's `load_model`, so every problem names file, field path and
value, and cross-checked against the registry (people, teams). The result is an `OnCallConfig`
of `model.py` values the scheduler consumes: timezones resolved, vacations as UTC intervals.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field

from ..registry import ConfigError, ConfigProblem, Registry, load_model
from ..registry.models import Duration, Identifier, StrictModel, TimeZoneName
from .model import ROLES, BurdenWeights, HomeCalendar, OnCallConfig, Override, Rotation, vacation_interval

ONCALL_FILE = "oncall.yaml"
OVERRIDES_FILE = "oncall_overrides.yaml"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def parse_clock(value: str) -> str:
    """'HH:MM' on a 24-hour clock; '24:00' only means end of day."""
    if not isinstance(value, str) or not _CLOCK.match(value) or (value.startswith("24") and value != "24:00"):
        raise ValueError("expected a time of day 'HH:MM' (24-hour clock, e.g. '10:00')")
    return value


def _country(value: str) -> str:
    import holidays

    if value not in holidays.list_supported_countries():
        raise ValueError("unknown country code for the `holidays` library (e.g. 'US', 'DE')")
    return value


Clock = Annotated[str, AfterValidator(parse_clock)]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
RoleName = Literal["primary", "secondary", "investor_watch"]


class HandoffSpec(StrictModel):
    weekday: Weekday = "monday"
    time: Clock = "10:00"
    timezone: TimeZoneName = "America/New_York"


class CoverageSpec(StrictModel):
    """Limit the rotation to certain days and hours (local to the hand-off timezone)."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: Clock = "00:00"
    end: Clock = "24:00"


class RotationSpec(StrictModel):
    id: Identifier
    team: str
    members: list[str] = Field(min_length=1, description="rotation order")
    start: date = Field(description="first hand-off date (on or after it, on the hand-off weekday)")
    shift_length: Duration = timedelta(weeks=1)
    handoff: HandoffSpec = HandoffSpec()
    coverage: CoverageSpec | None = None


class CompanyDay(StrictModel):
    date: date
    name: str = Field(min_length=1)


class HolidaySpec(StrictModel):
    country: Annotated[str, AfterValidator(_country)] = "US"
    subdivision: str | None = None
    company_days: list[CompanyDay] = Field(default_factory=list)


class VacationSpec(StrictModel):
    start: date
    end: date = Field(description="last day away (inclusive)")
    note: str | None = None


class InvestorPeriodSpec(StrictModel):
    enabled: bool = True
    business_days: int = Field(5, ge=1, le=20, description="the last N business days of each month")
    watch_role: bool = Field(True, description="add a third role, investor_watch, during the period")


class RulesSpec(StrictModel):
    no_back_to_back: bool = Field(True, description="nobody holds the same role two shifts running")
    swap_approval: Literal["lead", "none"] = Field(
        "none", description="lead: an accepted swap or a take waits for the rotation team's lead (teams.yaml `lead`)")


Weight = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class WeightsSpec(StrictModel):
    """What one on-call hour of each kind weighs (burden.py); `investor` is added on top."""

    business: Weight = 1.0
    off_hours: Weight = 1.5
    sleep: Weight = 2.0
    weekend: Weight = 2.0
    holiday: Weight = 3.0
    investor: Weight = 1.0


class HourBandSpec(StrictModel):
    start: Clock
    end: Clock


class FairnessSpec(StrictModel):
    weights: WeightsSpec = WeightsSpec()
    business_hours: HourBandSpec = HourBandSpec(start="08:00", end="18:00")
    sleep_hours: HourBandSpec = HourBandSpec(start="22:00", end="08:00")


class PublishSpec(StrictModel):
    horizon_weeks: int = Field(26, ge=1, le=260)
    file: str = Field("../oncall/published_schedule.yaml", description="relative to the config folder")


class OnCallFile(StrictModel):
    rotation: RotationSpec
    holidays: HolidaySpec = HolidaySpec()
    vacations: dict[str, list[VacationSpec]] = Field(default_factory=dict)
    investor_period: InvestorPeriodSpec = InvestorPeriodSpec()
    rules: RulesSpec = RulesSpec()
    fairness: FairnessSpec = FairnessSpec()
    publish: PublishSpec = PublishSpec()


class OverrideSpec(StrictModel):
    id: str = Field(min_length=1)
    person: str
    role: RoleName
    start: datetime
    end: datetime
    reason: str = Field(min_length=1)


class OverridesFile(StrictModel):
    overrides: list[OverrideSpec] = Field(default_factory=list)


def _clock(value: str) -> time | None:
    return None if value == "24:00" else time.fromisoformat(value)


def _cross_check(spec: OnCallFile, file: Path, lines: dict, registry: Registry) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []

    def problem(path: tuple, readable: str, value, message: str) -> None:
        line = next((lines[path[:cut]] for cut in range(len(path), 0, -1) if path[:cut] in lines), None)
        problems.append(ConfigProblem(str(file), readable, value, message, line))

    rot = spec.rotation
    team = registry.teams.get(rot.team)
    if team is None:
        problem(("rotation", "team"), "rotation.team", rot.team, "unknown team")
    seen: set[str] = set()
    for index, member in enumerate(rot.members):
        path, readable = ("rotation", "members", index), f"rotation.members[{index}]"
        if member not in registry.people:
            problem(path, readable, member, "unknown person")
        elif team is not None and member not in team.members:
            problem(path, readable, member, f"not a member of team {rot.team!r}")
        if member in seen:
            problem(path, readable, member, "listed twice in the rotation")
        seen.add(member)
    needed = 3 if spec.investor_period.enabled and spec.investor_period.watch_role else 2
    if len(seen) < needed:
        why = "primary, a distinct secondary and an investor watch" if needed == 3 else "primary and a distinct secondary"
        problem(("rotation", "members"), "rotation.members", rot.members,
                f"a rotation needs at least {needed} members ({why})")
    if spec.rules.swap_approval == "lead" and team is not None and not team.lead:
        problem(("rules", "swap_approval"), "rules.swap_approval", "lead",
                f"team {rot.team!r} has no `lead` in teams.yaml to approve swaps; add one or use 'none'")
    if rot.shift_length < timedelta(hours=1):
        problem(("rotation", "shift_length"), "rotation.shift_length", str(rot.shift_length), "shifts last at least 1h")
    if rot.coverage is not None:
        start, end = _clock(rot.coverage.start), _clock(rot.coverage.end)
        if end is not None and end <= start:
            problem(("rotation", "coverage", "end"), "rotation.coverage.end", rot.coverage.end,
                    f"coverage end must be after its start {rot.coverage.start!r}")
    if rot.handoff.time == "24:00":
        problem(("rotation", "handoff", "time"), "rotation.handoff.time", rot.handoff.time, "use '00:00' for midnight")
    business, sleep = spec.fairness.business_hours, spec.fairness.sleep_hours
    if business.start == "24:00" or (business.end != "24:00" and business.end <= business.start):
        problem(("fairness", "business_hours", "end"), "fairness.business_hours.end", business.end,
                f"business hours end must be after their start {business.start!r}")
    if sleep.start == sleep.end or "24:00" in (sleep.start, sleep.end):
        problem(("fairness", "sleep_hours"), "fairness.sleep_hours", f"{sleep.start}-{sleep.end}",
                "sleep hours need two different times of day, e.g. 22:00-08:00 (the band may cross midnight)")
    problems += _check_homes(spec, registry)
    company = set()
    for index, day in enumerate(spec.holidays.company_days):
        if day.date in company:
            problem(("holidays", "company_days", index), f"holidays.company_days[{index}].date", str(day.date), "listed twice")
        company.add(day.date)
    for person, vacations in spec.vacations.items():
        if person not in registry.people:
            problem(("vacations", person), f"vacations[{person}]", person, "unknown person")
        elif person not in rot.members:
            problem(("vacations", person), f"vacations[{person}]", person, "not in the rotation")
        ordered = sorted(enumerate(vacations), key=lambda iv: iv[1].start)
        for index, vac in enumerate(vacations):
            if vac.end < vac.start:
                problem(("vacations", person, index, "end"), f"vacations[{person}][{index}].end", str(vac.end),
                        f"vacation end before its start {vac.start}")
        for (i, a), (j, b) in zip(ordered, ordered[1:]):
            if b.start <= a.end:
                problem(("vacations", person, j, "start"), f"vacations[{person}][{j}].start", str(b.start),
                        f"overlaps vacations[{person}][{i}] ({a.start}..{a.end})")
    return problems


def _check_homes(spec: OnCallFile, registry: Registry) -> list[ConfigProblem]:
    """Each rotation member's `country`/`subdivision` in people.yaml is one the `holidays`
    library knows: a typo would silently give that person no public holidays."""
    import holidays

    supported = holidays.list_supported_countries()
    people_file = registry.config_dir / "people.yaml"
    lines = registry.lines.get("people")
    index_of = {person_id: i for i, person_id in enumerate(registry.people)}
    problems: list[ConfigProblem] = []
    for member in dict.fromkeys(spec.rotation.members):
        person = registry.people.get(member)
        if person is None:
            continue
        path = ("people", index_of[member])

        def problem(key: str, value, message: str, path=path, member=member) -> None:
            line = lines.get(path + (key,)) or lines.get(path) if lines is not None else None
            problems.append(ConfigProblem(str(people_file), f"people[{member}].{key}", value, message, line))

        if person.country is not None and person.country not in supported:
            problem("country", person.country, "unknown country code for the `holidays` library (e.g. 'US', 'DE')")
        elif person.subdivision is not None and person.country is None:
            problem("subdivision", person.subdivision, "a subdivision needs a `country`")
        elif person.subdivision is not None and person.subdivision not in supported[person.country]:
            known = ", ".join(supported[person.country][:12]) or "none"
            problem("subdivision", person.subdivision, f"unknown subdivision of {person.country} (known: {known}...)")
    return problems


def _check_overrides(spec: OverridesFile, file: Path, lines: dict, registry: Registry) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []

    def problem(path: tuple, readable: str, value, message: str) -> None:
        line = next((lines[path[:cut]] for cut in range(len(path), 0, -1) if path[:cut] in lines), None)
        problems.append(ConfigProblem(str(file), readable, value, message, line))

    ids: set[str] = set()
    for index, ovr in enumerate(spec.overrides):
        base, name = ("overrides", index), f"overrides[{ovr.id}]"
        if ovr.id in ids:
            problem(base + ("id",), f"overrides[{index}].id", ovr.id, "duplicate override id")
        ids.add(ovr.id)
        if ovr.person not in registry.people:
            problem(base + ("person",), f"{name}.person", ovr.person, "unknown person")
        for key in ("start", "end"):
            value = getattr(ovr, key)
            if value.tzinfo is None:
                problem(base + (key,), f"{name}.{key}", value.isoformat(),
                        "needs a UTC offset or 'Z' (e.g. 2026-12-01T09:00:00-05:00)")
        if ovr.start.tzinfo is not None and ovr.end.tzinfo is not None and ovr.end <= ovr.start:
            problem(base + ("end",), f"{name}.end", ovr.end.isoformat(), f"override end before (or at) its start {ovr.start.isoformat()}")
    valid = [o for o in spec.overrides if o.start.tzinfo and o.end.tzinfo and o.end > o.start]
    for role in ROLES:
        same = sorted((o for o in valid if o.role == role), key=lambda o: o.start)
        for a, b in zip(same, same[1:]):
            if b.start < a.end:
                index = spec.overrides.index(b)
                problem(("overrides", index, "start"), f"overrides[{b.id}].start", b.start.isoformat(),
                        f"overlaps override {a.id!r} for role {role} ({a.start.isoformat()}..{a.end.isoformat()})")
    return problems


def check_override_set(overrides, source: str, registry: Registry) -> list[ConfigProblem]:
    """The overrides file's checks (known person, role, end after start, no overlap per role, unique
    ids) on `model.Override` values from elsewhere (the ops DB plus one being added); problems name `source`."""
    problems = [ConfigProblem(source, f"overrides[{o.id}].role", o.role, f"unknown role (one of {', '.join(ROLES)})")
                for o in overrides if o.role not in ROLES]
    if problems:
        return problems
    spec = OverridesFile(overrides=[OverrideSpec(id=o.id, person=o.person, role=o.role, start=o.start, end=o.end, reason=o.reason)
                                    for o in overrides])
    return _check_overrides(spec, Path(source), {}, registry)


def load_oncall_config(config_dir: Path, registry: Registry) -> OnCallConfig:
    """Load and cross-check the rotation and its overrides; raise ConfigError listing every problem."""
    config_dir = Path(config_dir)
    oncall_file, overrides_file = config_dir / ONCALL_FILE, config_dir / OVERRIDES_FILE
    problems: list[ConfigProblem] = []
    spec, lines = None, {}
    try:
        spec, lines = load_model(oncall_file, OnCallFile)
    except ConfigError as exc:
        problems += exc.problems
    overrides_spec, overrides_lines = OverridesFile(), {}
    if overrides_file.exists():
        try:
            overrides_spec, overrides_lines = load_model(overrides_file, OverridesFile)
        except ConfigError as exc:
            problems += exc.problems
    if spec is not None:
        problems += _cross_check(spec, oncall_file, lines, registry)
        problems += _check_overrides(overrides_spec, overrides_file, overrides_lines, registry)
    if problems:
        raise ConfigError(problems)

    rot = spec.rotation
    homes = {
        member: HomeCalendar(registry.people[member].timezone, registry.people[member].country or spec.holidays.country,
                             registry.people[member].subdivision if registry.people[member].country else spec.holidays.subdivision)
        for member in rot.members
    }
    fair = spec.fairness
    weights = BurdenWeights(
        **fair.weights.model_dump(),
        business_start=time.fromisoformat(fair.business_hours.start), business_end=_clock(fair.business_hours.end),
        sleep_start=time.fromisoformat(fair.sleep_hours.start), sleep_end=time.fromisoformat(fair.sleep_hours.end),
    )
    vacations = {
        person: tuple(vacation_interval(v.start, v.end, ZoneInfo(registry.people[person].timezone))
                      for v in sorted(items, key=lambda v: v.start))
        for person, items in spec.vacations.items()
    }
    rotation = Rotation(
        id=rot.id,
        team=rot.team,
        members=tuple(rot.members),
        start=rot.start,
        shift_length=rot.shift_length,
        handoff_weekday=WEEKDAYS.index(rot.handoff.weekday),
        handoff_time=time.fromisoformat(rot.handoff.time),
        tz=ZoneInfo(rot.handoff.timezone),
        coverage_days=frozenset(WEEKDAYS.index(d) for d in rot.coverage.days) if rot.coverage else None,
        coverage_start=_clock(rot.coverage.start) if rot.coverage else time(0),
        coverage_end=_clock(rot.coverage.end) if rot.coverage else None,
        holiday_country=spec.holidays.country,
        holiday_subdivision=spec.holidays.subdivision,
        company_days=tuple((d.date, d.name) for d in spec.holidays.company_days),
        vacations=vacations,
        investor_business_days=spec.investor_period.business_days if spec.investor_period.enabled else 0,
        investor_watch=spec.investor_period.watch_role,
        no_back_to_back=spec.rules.no_back_to_back,
        swap_approval=spec.rules.swap_approval,
        horizon_weeks=spec.publish.horizon_weeks,
        homes=homes,
        weights=weights,
    )
    overrides = tuple(
        Override(o.id, o.person, o.role, o.start.astimezone(timezone.utc), o.end.astimezone(timezone.utc), o.reason)
        for o in overrides_spec.overrides
    )
    published = (config_dir / spec.publish.file).resolve()
    return OnCallConfig(rotation, overrides, config_dir, oncall_file, overrides_file, published)
