"""The schedule state in the ops DB: append-only publishes with frozen history, the one-time import
of the YAML files (first use and `oncall import`), export, and the engine's rolling publish."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from techflow_ops.cli import main
from techflow_ops.oncall.published import read_published
from techflow_ops.oncall.service import remove_override
from techflow_ops.oncall.tables import oncall_notices_sent, oncall_published_shifts, oncall_publishes
from techflow_ops.opsdb import get_engine
from techflow_ops.opsdb.schema import outbox

from .helpers import edit_oncall, publish_at, service, write_overrides_yaml

UTC = timezone.utc
NOW = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)  # Thursday; the next hand-off is Monday 2026-11-30 10:00 New York
SHIPPED_PUBLISHED = Path(__file__).resolve().parents[2] / "include" / "oncall" / "published_schedule.yaml"
OVERRIDE = {"id": "a", "person": "dana", "role": "primary", "start": "2027-01-13T14:00:00Z", "end": "2027-01-13T22:00:00Z",
            "reason": "cover"}


def with_shipped_history(config_copy: Path) -> Path:
    """The shipped published file where the copy's oncall.yaml looks for it (../oncall/)."""
    target = config_copy.parent / "oncall" / "published_schedule.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHIPPED_PUBLISHED, target)
    return target


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def shift_rows() -> list:
    with get_engine().connect() as connection:
        return list(connection.execute(select(oncall_published_shifts).order_by(oncall_published_shifts.c.id)))


def test_a_republish_supersedes_only_rows_after_its_frozen_until_and_keeps_them(config_copy):
    first = publish_at(config_copy, NOW)
    first_rows = shift_rows()
    # 2026-11-23 15:00Z (the shift in progress at NOW) .. the horizon: all inserted by publish 1, all current.
    assert {r.publish_id for r in first_rows} == {1} and all(r.superseded_by is None for r in first_rows)
    assert len(first_rows) == len(first.published.shifts)
    victim = next(s for s in first.published.shifts if s.role == "primary" and s.start > NOW + timedelta(weeks=6))
    day = victim.start.date() + timedelta(days=1)
    edit_oncall(config_copy, lambda d: d["vacations"].setdefault(victim.person, []).append(
        {"start": str(day), "end": str(day + timedelta(days=2))}))
    later = NOW + timedelta(days=2)  # Saturday 2026-11-28: the slot after it starts Monday 2026-11-30 10:00 EST
    second = publish_at(config_copy, later)
    assert second.frozen_until == datetime(2026, 11, 30, 15, tzinfo=UTC)
    rows = shift_rows()
    by_id = {r.id: r for r in rows}
    # Never deleted nor changed: publish 1's rows are all there with their values ...
    assert [(r.person, r.role, r.start, r.end) for r in rows if r.publish_id == 1] == \
        [(r.person, r.role, r.start, r.end) for r in first_rows]
    # ... those before frozen_until still current, those from it on superseded by publish 2.
    for row in first_rows:
        expected = None if row.start < second.frozen_until else 2
        assert by_id[row.id].superseded_by == expected, row
    assert all(r.start >= second.frozen_until for r in rows if r.publish_id == 2)
    assert service(config_copy, now=later).published.shifts == second.published.shifts
    with get_engine().connect() as connection:
        publishes = list(connection.execute(select(oncall_publishes).order_by(oncall_publishes.c.id)))
    assert [(p.source, p.frozen_until) for p in publishes] == [("publish", datetime(2026, 11, 30, 15, tzinfo=UTC)),
                                                               ("publish", datetime(2026, 11, 30, 15, tzinfo=UTC))]


def test_import_is_idempotent_refuses_a_different_history_and_force_replaces_it(config_copy, capsys):
    published_file = with_shipped_history(config_copy)
    write_overrides_yaml(config_copy, [OVERRIDE])
    base = ["oncall", "import", "--config-dir", str(config_copy), "--format", "json"]
    code, out, _ = run(capsys, *base)
    report = json.loads(out)
    lines = sum(1 for line in published_file.read_text().splitlines() if line.startswith("  - {start:"))
    assert code == 0 and (report["published"], report["shifts"], report["gaps"]) == ("imported", lines, 0)
    assert report["overrides_added"] == ["a"]
    code, out, _ = run(capsys, *base)
    report = json.loads(out)
    assert code == 0 and report["published"] == "unchanged" and report["overrides_unchanged"] == ["a"]
    assert report["overrides_added"] == []
    svc = service(config_copy)
    assert svc.published.shifts == read_published(published_file).shifts
    assert [o.id for o in svc.config.overrides] == ["a"]

    publish_at(config_copy, datetime(2026, 12, 10, 12, tzinfo=UTC))  # the DB moves on: longer horizon
    code, _, err = run(capsys, *base)
    assert code == 1 and "different published schedule" in err and "--force" in err
    assert service(config_copy).published.until > read_published(published_file).until  # refused: DB untouched
    code, out, _ = run(capsys, *base, "--force")
    assert code == 0 and json.loads(out)["published"] == "replaced"
    assert service(config_copy).published.shifts == read_published(published_file).shifts


def test_first_use_imports_the_files_once_and_says_so(config_copy):
    published_file = with_shipped_history(config_copy)
    write_overrides_yaml(config_copy, [OVERRIDE])
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("techflow_ops.oncall.service")
    logger.addHandler(handler)
    try:
        svc = service(config_copy)
    finally:
        logger.removeHandler(handler)
    assert svc.published.shifts == read_published(published_file).shifts
    assert [o.id for o in svc.config.overrides] == ["a"]
    [record] = [r for r in records if "first use" in r.getMessage()]
    assert f"imported {len(svc.published.shifts)} shifts" in record.getMessage() and "1 override(s)" in record.getMessage()
    # Once: an override removed in the DB does not come back from the file that is still there.
    assert remove_override(config_copy, "a", by="test")
    assert service(config_copy).config.overrides == ()


def test_export_then_import_into_another_db_gives_the_same_schedule(config_copy, capsys, tmp_path, monkeypatch):
    publish_at(config_copy, NOW)
    write_overrides_yaml(config_copy, [])
    assert run(capsys, "oncall", "override", "add", "--config-dir", str(config_copy), "--person", "dana", "--role", "primary",
               "--start", OVERRIDE["start"], "--end", OVERRIDE["end"], "--reason", "cover", "--id", "a")[0] == 0
    source = service(config_copy)
    code, _, _ = run(capsys, "oncall", "export", "--config-dir", str(config_copy))  # default paths: oncall.yaml's publish.file
    assert code == 0
    monkeypatch.setenv("TECHFLOW_OPS_DB_URL", f"sqlite:///{tmp_path / 'other.db'}")
    code, out, _ = run(capsys, "oncall", "import", "--config-dir", str(config_copy), "--format", "json")
    assert code == 0 and json.loads(out)["published"] == "imported" and json.loads(out)["overrides_added"] == ["a"]
    other = service(config_copy)
    assert other.published.shifts == source.published.shifts and other.published.until == source.published.until
    assert other.config.overrides == source.config.overrides


def test_engine_tick_publishes_when_the_horizon_runs_short_and_notifies_moved_shifts(config_copy):
    from techflow_ops.escalation.orchestrator import Escalation

    published_file = with_shipped_history(config_copy)  # published until 2027-05-31 14:00Z, 26-week horizon
    shipped = read_published(published_file)
    # A vacation in a week after the next hand-off makes the rolling publish move that shift.
    victim = next(s for s in shipped.shifts if s.role == "primary" and s.start >= datetime(2027, 1, 4, tzinfo=UTC))
    day = victim.start.date() + timedelta(days=2)
    edit_oncall(config_copy, lambda d: d["vacations"].setdefault(victim.person, []).append({"start": str(day), "end": str(day)}))
    escalation = Escalation(config_dir=config_copy)
    early = datetime(2026, 12, 7, 12, tzinfo=UTC)  # 2027-05-31 14:00 is > early + 26 weeks - 1 week: long enough
    assert escalation.tick(early, deliver=False).oncall_published_until is None
    at = datetime(2026, 12, 10, 12, tzinfo=UTC)  # Thursday: now 2027-05-31 < at + 25 weeks (2027-06-03)
    report = escalation.tick(at, deliver=False)
    # at + 26 weeks = Thursday 2027-06-10; published to the end of that slot: Monday 2027-06-14 10:00 EDT.
    assert report.errors == [] and report.oncall_published_until == "2027-06-14T14:00:00+00:00"
    again = escalation.tick(at + timedelta(minutes=1), deliver=False)
    assert again.oncall_published_until is None  # at most once: the horizon is long enough now
    with get_engine().connect() as connection:
        publishes = list(connection.execute(select(oncall_publishes).order_by(oncall_publishes.c.id)))
        notices = list(connection.execute(select(oncall_notices_sent)))
        queued = list(connection.execute(select(outbox).where(outbox.c.purpose == "shift_change")))
    assert [(p.source, p.frozen_until) for p in publishes] == [
        ("import", shipped.shifts[0].start), ("rolling", datetime(2026, 12, 14, 15, tzinfo=UTC))]
    # History before the rolling publish's frozen_until is the shipped file's, untouched.
    current = service(config_copy).published
    frozen = datetime(2026, 12, 14, 15, tzinfo=UTC)
    assert [s for s in current.shifts if s.start < frozen] == [s for s in shipped.shifts if s.start < frozen]
    # The moved shift was announced by the publishing tick, through the outbox, once per person.
    assert victim.person in {n.recipient for n in notices} and {n.purpose for n in notices} == {"shift_change"}
    assert {q.recipient for q in queued} == {n.recipient for n in notices}
    assert escalation.tick(at + timedelta(minutes=2), deliver=False).handoff_notices == 0
    with get_engine().connect() as connection:
        assert len(list(connection.execute(select(oncall_notices_sent)))) == len(notices)
