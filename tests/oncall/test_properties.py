"""Property-based tests over random rotations, vacations, holidays and overrides."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from techflow_ops.oncall.model import OnCallConfig, Override, Rotation, vacation_interval
from techflow_ops.oncall.published import publish
from techflow_ops.oncall.scheduler import generate, make_timeline
from techflow_ops.oncall.service import ScheduleService
from techflow_ops.oncall.timeline import merge, subtract
from techflow_ops.registry import load_registry

UTC = timezone.utc
START = date(2027, 1, 4)
HORIZON_WEEKS = 12
ZONES = ["America/New_York", "Europe/Berlin", "America/Los_Angeles", "UTC"]
REGISTRY = load_registry()
PROPERTY_SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=[Phase.explicit, Phase.reuse, Phase.generate])


@st.composite
def rotations(draw) -> Rotation:
    size = draw(st.integers(min_value=3, max_value=6))
    members = tuple(f"p{i}" for i in range(size))
    tz = ZoneInfo(draw(st.sampled_from(ZONES)))
    length = draw(st.sampled_from([timedelta(weeks=1), timedelta(days=1), timedelta(hours=12), timedelta(days=3)]))
    weekdays_only = draw(st.booleans())
    vacations = {}
    for person in members:
        spans = []
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            first = START + timedelta(days=draw(st.integers(min_value=0, max_value=HORIZON_WEEKS * 7)))
            spans.append(vacation_interval(first, first + timedelta(days=draw(st.integers(0, 9))), tz))
        vacations[person] = tuple(merge(spans))
    return Rotation(
        id="random", team="t", members=members, start=START, shift_length=length,
        handoff_weekday=draw(st.integers(0, 6)), handoff_time=time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 30]))),
        tz=tz,
        coverage_days=frozenset(range(5)) if weekdays_only else None,
        coverage_start=time(8) if weekdays_only else time(0), coverage_end=time(18) if weekdays_only else None,
        holiday_country=draw(st.sampled_from(["US", "DE", None])),
        company_days=((START + timedelta(days=draw(st.integers(0, 60))), "company day"),),
        vacations=vacations,
        investor_business_days=draw(st.sampled_from([0, 5, 3])),
        investor_watch=draw(st.booleans()),
        no_back_to_back=draw(st.booleans()),
        horizon_weeks=HORIZON_WEEKS,
    )


def horizon(rotation: Rotation) -> tuple[datetime, datetime]:
    since = rotation.first_handoff()
    return since, since + timedelta(weeks=HORIZON_WEEKS)


@PROPERTY_SETTINGS
@given(rotations())
def test_every_covered_instant_has_distinct_holders_or_a_reported_gap(rotation):
    since, until = horizon(rotation)
    timeline = make_timeline(rotation, until)
    schedule = generate(rotation, until, timeline=timeline)
    end = max([s.end for s in schedule.shifts] + [until])
    coverage = timeline.coverage(since, end)
    for role in rotation.roles:
        need = coverage if role != "investor_watch" else [
            piece for a, b in coverage for piece in timeline.investor.overlap(a, b)]
        held = merge((s.start, s.end) for s in schedule.shifts if s.role == role)
        reported = merge((g.start, g.end) for g in schedule.gaps if g.role == role)
        assert subtract(need, merge(held + reported)) == [], role
        assert subtract(held, need) == [], f"{role} scheduled outside its coverage"
        assert subtract(reported, need) == []
        shifts = sorted((s for s in schedule.shifts if s.role == role), key=lambda s: s.start)
        assert all(a.end <= b.start for a, b in zip(shifts, shifts[1:])), f"{role} held twice at once"
    per_person: dict[str, list] = {}
    for shift in schedule.shifts:
        for other in per_person.get(shift.person, []):
            assert not (shift.start < other.end and other.start < shift.end), (shift, other)
        per_person.setdefault(shift.person, []).append(shift)


@PROPERTY_SETTINGS
@given(rotations())
def test_nobody_on_vacation_is_scheduled(rotation):
    _, until = horizon(rotation)
    for shift in generate(rotation, until).shifts:
        for start, end in rotation.vacations[shift.person]:
            assert not (shift.start < end and start < shift.end), shift


def config_for(rotation: Rotation, folder: Path, overrides=()) -> OnCallConfig:
    return OnCallConfig(rotation, tuple(overrides), folder, folder / "oncall.yaml", folder / "oncall_overrides.yaml",
                        folder / "published_schedule.yaml")


@PROPERTY_SETTINGS
@given(rotations(), st.integers(min_value=0, max_value=HORIZON_WEEKS * 7 * 24 - 1),
       st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=5), st.integers(min_value=0, max_value=9))
def test_publish_is_idempotent_and_a_future_vacation_never_changes_the_past(rotation, hour, later_days, who, length):
    since, _ = horizon(rotation)
    now = since + timedelta(hours=hour)
    with tempfile.TemporaryDirectory() as folder:
        config = config_for(rotation, Path(folder))
        first = publish(config, now, None)
        assert not publish(config, now, first.published).written
        assert not publish(config, now + timedelta(minutes=1), first.published).written or \
            publish(config, now + timedelta(minutes=1), first.published).published.shifts[:len(first.published.shifts)]
        again = publish(config, now, first.published)
        assert not again.written and again.published is first.published

        person = rotation.members[who % len(rotation.members)]
        day = (now.astimezone(rotation.tz) + timedelta(days=later_days)).date()
        away = vacation_interval(day, day + timedelta(days=length), rotation.tz)
        if away[0] < first.frozen_until:
            return
        changed = replace(rotation, vacations=rotation.vacations | {person: tuple(merge(rotation.vacations[person] + (away,)))})
        second = publish(config_for(changed, Path(folder)), now, first.published)
        frozen = first.frozen_until
        assert [s for s in second.published.shifts if s.start < frozen] == [s for s in first.published.shifts if s.start < frozen]
        assert all(c.start >= frozen for c in second.moved)
        for shift in second.published.shifts:
            if shift.person == person and shift.start >= frozen:
                assert not (shift.start < away[1] and away[0] < shift.end), shift


@PROPERTY_SETTINGS
@given(rotations(), st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["primary", "secondary"]),
                                       st.integers(0, HORIZON_WEEKS * 7 * 24 - 48), st.integers(1, 72)), max_size=4))
def test_overrides_win_and_conflicts_are_reported(rotation, raw):
    since, _ = horizon(rotation)
    overrides, taken = [], {"primary": [], "secondary": []}
    for i, (who, role, offset, hours_long) in enumerate(raw):
        start = since + timedelta(hours=offset)
        end = start + timedelta(hours=hours_long)
        if any(start < b and a < end for a, b in taken[role]):
            continue
        taken[role].append((start, end))
        overrides.append(Override(f"o{i}", rotation.members[who % len(rotation.members)], role, start, end, "swap"))
    service = ScheduleService(config_for(rotation, Path(tempfile.gettempdir()), overrides), REGISTRY, None, now=since)
    for o in overrides:
        middle = o.start + (o.end - o.start) / 2
        assert service.holder(o.role, middle).person == o.person
        assert service.holder(o.role, middle).source == "override"
    gaps = service.gaps(since, since + timedelta(weeks=HORIZON_WEEKS))
    for o in overrides:
        other = "secondary" if o.role == "primary" else "primary"
        for probe in (o.start, o.start + (o.end - o.start) / 2):
            holder = service.holder(other, probe)
            if holder is not None and holder.person == o.person:
                assert any(g.kind == "conflict" and g.start <= probe < g.end and o.person in g.people for g in gaps)
    for probe_hour in range(0, HORIZON_WEEKS * 7 * 24, 17):
        at = since + timedelta(hours=probe_hour)
        now = service.now(at)
        if not now.off_hours:
            for role in ("primary", "secondary"):
                assert getattr(now, role) is not None or any(g.startswith(role) for g in now.gaps), (at, now)
