"""Publishing into the ops DB: frozen history, minimal moves, idempotence, "your shifts moved" changes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from techflow_ops.cli import main
from techflow_ops.oncall import store
from techflow_ops.oncall.published import read_published
from techflow_ops.oncall.tables import oncall_publishes
from techflow_ops.opsdb import get_engine

from .helpers import edit_oncall, publish_at, service

UTC = timezone.utc
NOW = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)


def _publishes_and_version() -> tuple[int, str]:
    with get_engine().connect() as connection:
        return connection.execute(select(func.count()).select_from(oncall_publishes)).scalar(), store.state_version(connection)


def test_publish_is_idempotent_and_leaves_the_db_alone(config_copy):
    first = publish_at(config_copy, NOW)
    assert first.written and first.moved == []
    after_first = _publishes_and_version()
    assert after_first[0] == 1
    again = publish_at(config_copy, NOW + timedelta(hours=2))
    # Nothing recorded, and the state version unchanged: no process reloads for a no-op publish.
    assert not again.written and _publishes_and_version() == after_first


def test_exported_file_is_sorted_one_shift_per_line(config_copy, tmp_path, capsys):
    result = publish_at(config_copy, NOW)
    target = tmp_path / "export" / "published.yaml"
    assert main(["oncall", "export", "--config-dir", str(config_copy), "--file", str(target),
                 "--overrides-file", str(tmp_path / "export" / "overrides.yaml")]) == 0
    lines = [line for line in target.read_text().splitlines() if line.startswith("  - {start:")]
    assert len(lines) == len(result.published.shifts) and lines == sorted(lines, key=lambda ln: ln[:35])
    assert read_published(target).shifts == result.published.shifts


def test_new_vacation_moves_only_future_shifts_and_reports_whom_it_affects(config_copy):
    publish_at(config_copy, NOW)
    before = service(config_copy, now=NOW).published
    victim = next(s for s in before.shifts if s.role == "primary" and s.start > NOW + timedelta(weeks=6))
    day = victim.start.date() + timedelta(days=1)
    edit_oncall(config_copy, lambda d: d["vacations"].setdefault(victim.person, []).append(
        {"start": str(day), "end": str(day + timedelta(days=2))}))
    later = NOW + timedelta(days=2)
    result = publish_at(config_copy, later)
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
    publish_at(config_copy, NOW)
    later = NOW + timedelta(weeks=3)

    def jonas_leaves(d):
        d["rotation"]["members"].remove("jonas")
        d["vacations"].pop("jonas")

    edit_oncall(config_copy, jonas_leaves)
    result = publish_at(config_copy, later)
    past = [s for s in result.published.shifts if s.start < result.frozen_until]
    future = [s for s in result.published.shifts if s.start >= result.frozen_until]
    assert any(s.person == "jonas" for s in past)
    assert future and all(s.person != "jonas" for s in future)
    assert any(c.previous == "jonas" for c in result.moved)


def test_stale_published_schedule_is_flagged_as_conflict(config_copy):
    publish_at(config_copy, NOW)
    svc = service(config_copy, now=NOW)
    shift = next(s for s in svc.shifts(NOW + timedelta(weeks=4), NOW + timedelta(weeks=5)) if s.role == "primary")
    day = shift.start.date() + timedelta(days=2)
    edit_oncall(config_copy, lambda d: d["vacations"].setdefault(shift.person, []).append({"start": str(day), "end": str(day)}))
    svc = service(config_copy, now=NOW)
    conflicts = [g for g in svc.gaps(shift.start, shift.end) if g.kind == "conflict"]
    assert conflicts and conflicts[0].people == (shift.person,) and "vacation" in conflicts[0].reason


def test_new_member_joins_level_with_the_others(config_copy):
    publish_at(config_copy, NOW)
    teams = config_copy / "teams.yaml"
    teams.write_text(teams.read_text().replace("members: [priya, marcus, sofia, jonas]", "members: [priya, marcus, sofia, jonas, dana]"))
    edit_oncall(config_copy, lambda d: d["rotation"]["members"].append("dana"))
    later = NOW + timedelta(weeks=8)
    result = publish_at(config_copy, later)
    future = [s for s in result.published.shifts if s.start >= result.frozen_until and s.role == "primary"
              and s.start < result.frozen_until + timedelta(weeks=10)]
    weeks_of = {p: sum(1 for s in future if s.person == p and s.hours > 100) for p in ("priya", "marcus", "sofia", "jonas", "dana")}
    assert weeks_of["dana"] >= 1, weeks_of
    # Not handed every shift to catch up: a fair share of 10 weeks over 5 people is 2. Since issue
    # 17 burden, not the number of weeks, is level (a holiday or investor week weighs more), so
    # week counts may differ by 2.
    assert weeks_of["dana"] <= 3 and max(weeks_of.values()) - min(weeks_of.values()) <= 2, weeks_of
    assert result.published.members[-1] == "dana"
