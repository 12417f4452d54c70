"""Who is on call: published schedule, overrides, page order, hand-offs, gaps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from techflow_ops.oncall import OnCallNow, Shift, get_schedule_service

from .helpers import edit_oncall, publish_at, service, set_overrides

UTC = timezone.utc
NOW = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
# NOW is Thanksgiving, which since issue 17 moves to someone for whom it is no holiday (a
# substitute piece): whole-week hand-offs and overrides are looked at on an ordinary Wednesday.
ORDINARY = datetime(2026, 12, 2, 19, 0, tzinfo=UTC)


def test_shipped_schedule_answers_for_the_published_horizon():
    svc = get_schedule_service()
    assert svc.published is not None, "include/oncall/published_schedule.yaml (imported on first use) must be committed"
    start, end = svc.published.shifts[0].start, svc.published.until
    at = start
    while at < end:
        now = svc.now(at)
        assert now.primary and now.secondary and now.primary != now.secondary, now
        assert now.gaps == [], now
        assert now.sources["primary"] == "schedule"
        at += timedelta(hours=13)


def test_now_follows_the_published_schedule_and_handoff_time(config_copy):
    publish_at(config_copy, NOW)
    svc = service(config_copy, now=NOW)
    week = [s for s in svc.shifts(ORDINARY, ORDINARY + timedelta(seconds=1)) if s.role == "primary"]
    assert len(week) == 1 and week[0].source == "schedule"
    handoff = week[0].end
    # Monday 10:00 New York is 15:00 UTC in winter.
    assert handoff.astimezone(UTC).hour == 15 and handoff.weekday() == 0
    before, after = svc.now(handoff - timedelta(seconds=1)), svc.now(handoff)
    assert before.primary == week[0].person
    assert after.primary != before.primary
    assert before.next_handoff == handoff
    assert isinstance(before, OnCallNow)


def test_override_wins_and_is_reported_as_such(config_copy):
    publish_at(config_copy, NOW)
    scheduled = service(config_copy, now=NOW).now(ORDINARY + timedelta(hours=1))
    stand_in = next(p for p in ("priya", "marcus", "sofia", "jonas") if p not in (scheduled.primary, scheduled.secondary, scheduled.investor_watch))
    set_overrides(config_copy, [{"id": "swap-1", "person": stand_in, "role": "primary", "start": "2026-12-02T20:00:00Z",
                                 "end": "2026-12-03T08:00:00Z", "reason": "doctor's appointment"}])
    svc = service(config_copy, now=NOW)
    during = svc.now(datetime(2026, 12, 3, 1, tzinfo=UTC))
    assert during.primary == stand_in and during.sources["primary"] == "override"
    assert svc.now(datetime(2026, 12, 3, 8, tzinfo=UTC)).primary == scheduled.primary
    handoffs = svc.handoffs(ORDINARY, datetime(2026, 12, 4, tzinfo=UTC))
    assert [(h.at.hour, h.on, h.off) for h in handoffs if h.role == "primary"] == [
        (20, stand_in, scheduled.primary), (8, scheduled.primary, stand_in)]


def test_override_making_one_person_hold_two_roles_is_a_reported_conflict(config_copy):
    svc = service(config_copy, now=NOW)
    current = svc.now(NOW)
    set_overrides(config_copy, [{"id": "double", "person": current.primary, "role": "secondary",
                                 "start": "2026-11-26T19:00:00Z", "end": "2026-11-26T21:00:00Z", "reason": "test"}])
    svc = service(config_copy, now=NOW)
    assert any("conflict" in g and current.primary in g for g in svc.now(NOW).gaps)
    conflicts = [g for g in svc.gaps(NOW, NOW + timedelta(hours=3)) if g.kind == "conflict"]
    assert conflicts and conflicts[0].people == (current.primary,)


def test_everyone_on_vacation_is_a_reported_gap_not_a_crash(config_copy):
    def all_away(data):
        for person in data["rotation"]["members"]:
            data["vacations"][person] = [{"start": "2026-12-15", "end": "2026-12-16"}]

    edit_oncall(config_copy, all_away)
    result = publish_at(config_copy, NOW)
    assert result.published.gaps, "a published gap report"
    svc = service(config_copy, now=NOW)
    middle = datetime(2026, 12, 16, 12, tzinfo=UTC)
    now = svc.now(middle)
    assert now.primary is None and now.secondary is None
    assert any(g.startswith("primary: uncovered") for g in now.gaps)
    gaps = svc.gaps(datetime(2026, 12, 14, tzinfo=UTC), datetime(2026, 12, 20, tzinfo=UTC))
    assert {g.role for g in gaps} >= {"primary", "secondary"}
    assert all(g.start < middle + timedelta(days=1) for g in gaps)


def test_unpublished_config_is_continued_by_the_generator(config_copy):
    published = config_copy.parent / "oncall" / "published_schedule.yaml"
    assert not published.exists()
    svc = service(config_copy, now=NOW)
    now = svc.now(NOW)
    assert now.primary and now.sources["primary"] == "generated" and now.gaps == []


def test_beyond_the_horizon_is_a_gap_with_a_reason(config_copy):
    svc = service(config_copy, now=NOW)
    far = svc.covered_until + timedelta(days=3)
    now = svc.now(far)
    assert now.primary is None and any("horizon" in g for g in now.gaps)


def test_shifts_are_effective_and_typed(config_copy):
    svc = service(config_copy, now=NOW)
    shifts = svc.shifts(NOW, NOW + timedelta(weeks=4))
    assert shifts and all(isinstance(s, Shift) and s.start.tzinfo is not None for s in shifts)
    assert shifts == sorted(shifts, key=lambda s: (s.start, ("primary", "secondary", "investor_watch").index(s.role), s.person, s.end))
