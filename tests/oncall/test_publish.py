"""Publishing: frozen history, minimal moves, idempotence, "your shifts moved" changes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from techflow_ops.oncall.published import publish, read_published

from .helpers import edit_oncall, service

UTC = timezone.utc
NOW = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)


def test_publish_is_idempotent_and_leaves_the_file_alone(config_copy):
    svc = service(config_copy, now=NOW)
    first = publish(svc.config, NOW)
    assert first.written and first.moved == []
    text = first.path.read_text()
    again = publish(service(config_copy, now=NOW).config, NOW + timedelta(hours=2))
    assert not again.written and first.path.read_text() == text


def test_published_file_is_sorted_one_shift_per_line(config_copy):
    result = publish(service(config_copy, now=NOW).config, NOW)
    lines = [line for line in result.path.read_text().splitlines() if line.startswith("  - {start:")]
    assert len(lines) == len(result.published.shifts) and lines == sorted(lines, key=lambda ln: ln[:35])
    assert read_published(result.path).shifts == result.published.shifts


def test_new_vacation_moves_only_future_shifts_and_reports_whom_it_affects(config_copy):
    publish(service(config_copy, now=NOW).config, NOW)
    before = read_published(config_copy.parent / "oncall" / "published_schedule.yaml")
    victim = next(s for s in before.shifts if s.role == "primary" and s.start > NOW + timedelta(weeks=6))
    day = victim.start.date() + timedelta(days=1)
    edit_oncall(config_copy, lambda d: d["vacations"].setdefault(victim.person, []).append(
        {"start": str(day), "end": str(day + timedelta(days=2))}))
    later = NOW + timedelta(days=2)
    result = publish(service(config_copy, now=later).config, later)
    assert result.written and result.moved
    frozen = [s for s in before.shifts if s.start < result.frozen_until]
    assert [s for s in result.published.shifts if s.start < result.frozen_until] == frozen
    assert all(c.start >= result.frozen_until for c in result.moved)
    assert any(victim.person in c.affected for c in result.moved)
    # Few moves: the weeks around the vacation, not a reshuffle of the whole horizon. Since issue
    # 17 the roles of a slot are chosen together and holidays are handed on, so a move can ripple
    # into one more investor period (measured: 9 of the 26 weeks); it was 6 before.
    moved_weeks = {c.start.isocalendar()[:2] for c in result.moved}
    assert len(moved_weeks) <= 10, sorted(moved_weeks)
    svc = service(config_copy, now=later)
    assert svc.changes_since(NOW) == result.moved == svc.changes_since()
    assert svc.changes_since(later) == []
    vacation_noon = datetime(day.year, day.month, day.day, 17, tzinfo=UTC)
    assert victim.person not in (svc.now(vacation_noon).primary, svc.now(vacation_noon).secondary)


def test_member_leaving_keeps_history_and_drops_future(config_copy):
    publish(service(config_copy, now=NOW).config, NOW)
    later = NOW + timedelta(weeks=3)

    def jonas_leaves(d):
        d["rotation"]["members"].remove("jonas")
        d["vacations"].pop("jonas")

    edit_oncall(config_copy, jonas_leaves)
    result = publish(service(config_copy, now=later).config, later)
    past = [s for s in result.published.shifts if s.start < result.frozen_until]
    future = [s for s in result.published.shifts if s.start >= result.frozen_until]
    assert any(s.person == "jonas" for s in past)
    assert future and all(s.person != "jonas" for s in future)
    assert any(c.previous == "jonas" for c in result.moved)


def test_stale_published_schedule_is_flagged_as_conflict(config_copy):
    publish(service(config_copy, now=NOW).config, NOW)
    svc = service(config_copy, now=NOW)
    shift = next(s for s in svc.shifts(NOW + timedelta(weeks=4), NOW + timedelta(weeks=5)) if s.role == "primary")
    day = shift.start.date() + timedelta(days=2)
    edit_oncall(config_copy, lambda d: d["vacations"].setdefault(shift.person, []).append({"start": str(day), "end": str(day)}))
    svc = service(config_copy, now=NOW)
    conflicts = [g for g in svc.gaps(shift.start, shift.end) if g.kind == "conflict"]
    assert conflicts and conflicts[0].people == (shift.person,) and "vacation" in conflicts[0].reason


def test_new_member_joins_level_with_the_others(config_copy):
    publish(service(config_copy, now=NOW).config, NOW)
    teams = config_copy / "teams.yaml"
    teams.write_text(teams.read_text().replace("members: [priya, marcus, sofia, jonas]", "members: [priya, marcus, sofia, jonas, dana]"))
    edit_oncall(config_copy, lambda d: d["rotation"]["members"].append("dana"))
    later = NOW + timedelta(weeks=8)
    result = publish(service(config_copy, now=later).config, later)
    future = [s for s in result.published.shifts if s.start >= result.frozen_until and s.role == "primary"
              and s.start < result.frozen_until + timedelta(weeks=10)]
    weeks_of = {p: sum(1 for s in future if s.person == p and s.hours > 100) for p in ("priya", "marcus", "sofia", "jonas", "dana")}
    assert weeks_of["dana"] >= 1, weeks_of
    # Not handed every shift to catch up: a fair share of 10 weeks over 5 people is 2. Since issue
    # 17 burden, not the number of weeks, is level (a holiday or investor week weighs more), so
    # week counts may differ by 2.
    assert weeks_of["dana"] <= 3 and max(weeks_of.values()) - min(weeks_of.values()) <= 2, weeks_of
    assert result.published.members[-1] == "dana"
