"""The on-call state in the ops DB (tables.py): read and write the published schedule and the
overrides, and the state version every change bumps. The only on-call module that speaks SQL;
scheduler, timeline, burden and published.py stay pure and hand it plain `model.py` values.

Every write runs in one transaction that also replaces the `oncall_state_version` token in
`engine_state`, so a process holding a cached `ScheduleService` knows, with one primary-key
read, whether anything changed since it loaded (see `service.get_schedule_service`).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..opsdb.schema import engine_state
from .model import Gap, Override, Shift, ShiftChange, gap_order, iso, shift_order
from .published import Published
from .swaps import SwapEvent, SwapRequest
from .tables import (
    STATE_VERSION_KEY,
    oncall_notices_sent,
    oncall_overrides,
    oncall_published_gaps,
    oncall_published_shifts,
    oncall_publishes,
    oncall_shift_changes,
    oncall_swap_events,
    oncall_swap_requests,
    oncall_vacation_swaps,
    oncall_vacations,
)
from .vacations import Vacation

log = logging.getLogger(__name__)

IMPORTED_KEY = "oncall_imported:{rotation}"  # engine_state: the one-time import of the YAML state ran


class StateConflict(Exception):
    """The DB already holds a different history than the one being imported."""


# --- state version ----------------------------------------------------------------------------

def state_version(connection: Connection) -> str | None:
    return connection.execute(select(engine_state.c.value).where(engine_state.c.key == STATE_VERSION_KEY)).scalar()


def lock_state(connection: Connection) -> None:
    """Serialise writers that read the state before they change it (publish, add an override):
    on PostgreSQL a row lock on the version row until the transaction ends; SQLite's writes begin
    with BEGIN IMMEDIATE (opsdb.engine), which already holds the database's write lock."""
    connection.execute(select(engine_state.c.value).where(engine_state.c.key == STATE_VERSION_KEY).with_for_update())


def bump_version(connection: Connection) -> str:
    """A fresh random token (not a counter: two writers committing one after the other must
    leave two different values even if they read the same one before)."""
    token = uuid.uuid4().hex
    if connection.execute(update(engine_state).where(engine_state.c.key == STATE_VERSION_KEY)
                          .values(value=token)).rowcount == 0:
        connection.execute(engine_state.insert().values(key=STATE_VERSION_KEY, value=token))
    return token


# --- reading ----------------------------------------------------------------------------------

def load_published(connection: Connection, rotation: str) -> Published | None:
    """The current published schedule of `rotation` (None when nothing was published), with
    its changelog."""
    latest = connection.execute(
        select(oncall_publishes).where(oncall_publishes.c.rotation == rotation).order_by(oncall_publishes.c.id.desc()).limit(1)
    ).first()
    if latest is None:
        return None
    s, g, c = oncall_published_shifts, oncall_published_gaps, oncall_shift_changes
    shifts = [Shift(r.person, r.role, r.start, r.end, "schedule", r.reason) for r in connection.execute(
        select(s.c.person, s.c.role, s.c.start, s.c.end, s.c.reason).where(s.c.rotation == rotation, s.c.superseded_by.is_(None)))]
    gaps = [Gap(r.role, r.start, r.end, "uncovered", r.reason) for r in connection.execute(
        select(g.c.role, g.c.start, g.c.end, g.c.reason).where(g.c.rotation == rotation, g.c.superseded_by.is_(None)))]
    changelog = [ShiftChange(r.role, r.start, r.end, r.previous, r.current, r.published_at) for r in connection.execute(
        select(c.c.role, c.c.start, c.c.end, c.c.previous, c.c.current, c.c.published_at)
        .where(c.c.rotation == rotation).order_by(c.c.published_at, c.c.id))]
    return Published(rotation, latest.published_at, latest.until, sorted(shifts, key=shift_order), sorted(gaps, key=gap_order),
                     tuple(json.loads(latest.members)), changelog)


def load_overrides(connection: Connection, rotation: str) -> tuple[Override, ...]:
    o = oncall_overrides
    rows = connection.execute(select(o).where(o.c.rotation == rotation, o.c.removed_at.is_(None)).order_by(o.c.start, o.c.row_id))
    return tuple(Override(r.id, r.person, r.role, r.start, r.end, r.reason) for r in rows)


def swap_requests_overlapping(connection: Connection, rotation: str, start: datetime, end: datetime,
                              statuses: tuple[str, ...]) -> list[dict]:
    """Swap/take requests of `rotation` in one of `statuses` whose shift part overlaps
    [start, end), oldest first, as plain dicts (the calendar's read; the workflow writes them)."""
    r = oncall_swap_requests
    rows = connection.execute(
        select(r.c.id, r.c.requester, r.c.counterpart, r.c.role, r.c.start, r.c.end, r.c.kind, r.c.status, r.c.reason,
               r.c.requested_at)
        .where(r.c.rotation == rotation, r.c.status.in_(statuses), r.c.start < end, r.c.end > start)
        .order_by(r.c.start, r.c.id))
    return [dict(row._mapping) for row in rows]


def has_publish(connection: Connection, rotation: str) -> bool:
    return connection.execute(select(oncall_publishes.c.id).where(oncall_publishes.c.rotation == rotation).limit(1)).first() is not None


# --- writing ----------------------------------------------------------------------------------

def record_publish(connection: Connection, published: Published, frozen_until: datetime, moved: list[ShiftChange], *,
                   source: str, created_by: str | None = None) -> int:
    """Append a publish: rows from `frozen_until` on replace the current ones from there on
    (marked superseded, kept); rows before it are history and stay as they are. Shifts and gaps
    before `frozen_until` that the DB does not hold yet (a first publish's shift in progress) are added."""
    rotation = published.rotation
    s, g = oncall_published_shifts, oncall_published_gaps
    kept_shifts = {tuple(r) for r in connection.execute(select(s.c.role, s.c.person, s.c.start, s.c.end).where(
        s.c.rotation == rotation, s.c.superseded_by.is_(None), s.c.start < frozen_until))}
    kept_gaps = {tuple(r) for r in connection.execute(select(g.c.role, g.c.start, g.c.end).where(
        g.c.rotation == rotation, g.c.superseded_by.is_(None), g.c.start < frozen_until))}
    publish_id = connection.execute(insert(oncall_publishes).values(
        rotation=rotation, published_at=published.published_at, frozen_until=frozen_until, until=published.until,
        members=json.dumps(list(published.members)), source=source, created_by=created_by,
    )).inserted_primary_key[0]
    for table in (s, g):
        connection.execute(update(table).where(
            table.c.rotation == rotation, table.c.superseded_by.is_(None), table.c.start >= frozen_until,
        ).values(superseded_by=publish_id))
    shifts = [dict(publish_id=publish_id, rotation=rotation, role=x.role, person=x.person, start=x.start, end=x.end, reason=x.reason)
              for x in published.shifts if x.start >= frozen_until or (x.role, x.person, x.start, x.end) not in kept_shifts]
    gaps = [dict(publish_id=publish_id, rotation=rotation, role=x.role, start=x.start, end=x.end, reason=x.reason)
            for x in published.gaps if x.start >= frozen_until or (x.role, x.start, x.end) not in kept_gaps]
    changes = [dict(publish_id=publish_id, rotation=rotation, role=c.role, start=c.start, end=c.end,
                    previous=c.previous, current=c.current, published_at=c.published_at) for c in moved]
    for table, rows in ((s, shifts), (g, gaps), (oncall_shift_changes, changes)):
        if rows:
            connection.execute(insert(table), rows)
    bump_version(connection)
    return publish_id


def add_override(connection: Connection, rotation: str, override: Override, *, created_by: str, at: datetime) -> None:
    """Insert an active override (the caller validated it against the others, see
    `service.add_override`)."""
    connection.execute(insert(oncall_overrides).values(
        id=override.id, rotation=rotation, person=override.person, role=override.role, start=override.start,
        end=override.end, reason=override.reason, created_by=created_by, created_at=at,
    ))
    bump_version(connection)


def remove_override(connection: Connection, rotation: str, override_id: str, *, removed_by: str, at: datetime) -> bool:
    """Mark the active override `override_id` removed (kept for the audit trail); False if none."""
    o = oncall_overrides
    done = connection.execute(update(o).where(o.c.rotation == rotation, o.c.id == override_id, o.c.removed_at.is_(None))
                              .values(removed_at=at, removed_by=removed_by)).rowcount
    if done:
        bump_version(connection)
    return bool(done)


# --- import of the YAML state -----------------------------------------------------------------

@dataclass
class ImportReport:
    rotation: str
    published: str = "none"  # none | imported | unchanged | replaced
    shifts: int = 0
    gaps: int = 0
    changes: int = 0
    overrides_added: list[str] = field(default_factory=list)
    overrides_unchanged: list[str] = field(default_factory=list)
    overrides_replaced: list[str] = field(default_factory=list)

    def describe(self, published_file, overrides_file) -> str:
        what = {"none": f"no published schedule in {published_file}",
                "imported": f"imported {self.shifts} shifts, {self.gaps} gaps, {self.changes} logged moves from {published_file}",
                "unchanged": f"published schedule of {published_file} already in the ops DB",
                "replaced": f"replaced the ops DB's published schedule by {published_file} ({self.shifts} shifts)"}[self.published]
        parts = [what]
        if self.overrides_added or self.overrides_replaced:
            parts.append(f"imported {len(self.overrides_added) + len(self.overrides_replaced)} override(s) from {overrides_file}"
                         + (f" ({len(self.overrides_replaced)} replaced)" if self.overrides_replaced else ""))
        if self.overrides_unchanged:
            parts.append(f"{len(self.overrides_unchanged)} override(s) already in the ops DB")
        return f"rotation {self.rotation}: " + "; ".join(parts)


def _same_schedule(a: Published, b: Published) -> bool:
    return (a.until, a.shifts, a.gaps, tuple(a.members)) == (b.until, b.shifts, b.gaps, tuple(b.members))


def import_state(connection: Connection, rotation: str, published: Published | None, overrides: tuple[Override, ...], *,
                 at: datetime, by: str, force: bool = False) -> ImportReport:
    """Bring a YAML history and overrides into the DB. Idempotent: what is already there is
    left alone. A different published history or an override with the same id and other
    values raises StateConflict unless `force` (then the YAML wins: a publish of the file that
    supersedes the DB's current schedule, and the override replaced)."""
    report = ImportReport(rotation)
    if published is not None:
        if published.rotation != rotation:
            raise StateConflict(f"the published schedule is for rotation {published.rotation!r}, not {rotation!r}")
        current = load_published(connection, rotation)
        if current is not None and _same_schedule(current, published):
            report.published = "unchanged"
        elif current is not None and not force:
            raise StateConflict(
                f"the ops DB already has a different published schedule for rotation {rotation!r} "
                f"(published {iso(current.published_at)}, until {iso(current.until)}; the file: published "
                f"{iso(published.published_at)}, until {iso(published.until)}); rerun with --force to replace it by the file")
        else:
            # The file's whole history becomes one publish frozen from its first shift: nothing older to keep.
            start = min((s.start for s in published.shifts), default=published.published_at)
            start = min([start] + [g.start for g in published.gaps])
            record_publish(connection, published, start, published.changelog, source="import", created_by=by)
            report.published = "replaced" if current is not None else "imported"
            report.shifts, report.gaps, report.changes = len(published.shifts), len(published.gaps), len(published.changelog)
    existing = {o.id: o for o in load_overrides(connection, rotation)}
    for override in overrides:
        old = existing.get(override.id)
        if old == override:
            report.overrides_unchanged.append(override.id)
            continue
        if old is not None:
            if not force:
                raise StateConflict(f"override {override.id!r} is in the ops DB with other values "
                                    f"({old.person} {old.role} {iso(old.start)}..{iso(old.end)}); rerun with --force to replace it")
            remove_override(connection, rotation, override.id, removed_by=by, at=at)
            report.overrides_replaced.append(override.id)
        else:
            report.overrides_added.append(override.id)
        add_override(connection, rotation, override, created_by=by, at=at)
    mark_imported(connection, rotation)
    return report


def mark_imported(connection: Connection, rotation: str) -> None:
    key = IMPORTED_KEY.format(rotation=rotation)
    if connection.execute(select(engine_state.c.key).where(engine_state.c.key == key)).first() is None:
        connection.execute(engine_state.insert().values(key=key, value="1"))


def import_once(engine: Engine, rotation: str, read_yaml_state, *, at: datetime) -> ImportReport | None:
    """First use: when the DB has no published schedule for `rotation` and the one-time import
    never ran, import what `read_yaml_state()` returns (published, overrides) and log it. Two
    processes starting together: the import marker's primary key lets one of them do it."""
    key = IMPORTED_KEY.format(rotation=rotation)
    with engine.connect() as connection:
        done = connection.execute(select(engine_state.c.key).where(engine_state.c.key == key)).first() is not None
        if done or has_publish(connection, rotation):
            return None
    published, overrides = read_yaml_state()
    try:
        with engine.begin() as connection:
            # Claim the import first: a second process inserting the same key fails (or waits, then fails) here.
            connection.execute(engine_state.insert().values(key=key, value="1"))
            if has_publish(connection, rotation):
                return None
            if published is None and not overrides:
                return None  # nothing to import (marked done, so removed overrides never come back)
            report = import_state(connection, rotation, published, overrides, at=at, by="first-use import")
    except IntegrityError:
        return None
    return report


def record_notice(connection: Connection, rotation: str, change_key: str, recipient: str, purpose: str, at: datetime) -> bool:
    """Note that `recipient` was told of `change_key`; False when they already were. (A select,
    then an insert: notices are queued by the engine tick, which holds the tick lease.)"""
    n = oncall_notices_sent
    seen = connection.execute(select(n.c.id).where(n.c.change_key == change_key, n.c.recipient == recipient)).first()
    if seen is not None:
        return False
    connection.execute(insert(n).values(rotation=rotation, change_key=change_key, recipient=recipient, purpose=purpose, sent_at=at))
    return True


# --- swap requests and their audit trail ------------------------------------------------------

def insert_swap_request(connection: Connection, rotation: str, *, kind: str, requester: str, role: str, start: datetime,
                        end: datetime, counterpart: str | None, reason: str | None, at: datetime) -> int:
    return connection.execute(insert(oncall_swap_requests).values(
        rotation=rotation, kind=kind, requester=requester, role=role, start=start, end=end, counterpart=counterpart,
        status="requested", reason=reason, requested_at=at, updated_at=at,
    )).inserted_primary_key[0]


def update_swap_request(connection: Connection, request_id: int, **values) -> None:
    connection.execute(update(oncall_swap_requests).where(oncall_swap_requests.c.id == request_id).values(**values))


def add_swap_event(connection: Connection, request_id: int, rotation: str, event: SwapEvent) -> None:
    connection.execute(insert(oncall_swap_events).values(
        request_id=request_id, rotation=rotation, at=event.at, actor=event.actor, action=event.action, role=event.role,
        start=event.start, end=event.end, from_person=event.from_person, to_person=event.to_person,
        override_id=event.override_id, note=event.note,
    ))


def load_swap_requests(connection: Connection, rotation: str, *, request_id: int | None = None,
                       statuses: tuple[str, ...] | None = None) -> list[SwapRequest]:
    """Requests (newest first) with their events (oldest first)."""
    r, e = oncall_swap_requests, oncall_swap_events
    query = select(r).where(r.c.rotation == rotation).order_by(r.c.id.desc())
    if request_id is not None:
        query = query.where(r.c.id == request_id)
    if statuses is not None:
        query = query.where(r.c.status.in_(statuses))
    rows = list(connection.execute(query))
    if not rows:
        return []
    events: dict[int, list[SwapEvent]] = {}
    for x in connection.execute(select(e).where(e.c.request_id.in_([row.id for row in rows])).order_by(e.c.id)):
        events.setdefault(x.request_id, []).append(SwapEvent(x.action, x.at, x.actor, x.role, x.start, x.end, x.from_person,
                                                             x.to_person, x.override_id, x.note))
    return [SwapRequest(row.id, row.rotation, row.kind, row.requester, row.role, row.start, row.end, row.counterpart, row.status,
                        row.reason, row.accepted_by, row.decided_by, row.requested_at, row.accepted_at, row.decided_at,
                        row.updated_at, tuple(events.get(row.id, ()))) for row in rows]


# --- vacations (oncall_vacations) and the swap requests they opened ---------------------------

def load_vacations(connection: Connection, rotation: str, person: str | None = None) -> list[Vacation]:
    """Active vacations of `rotation` (of `person` when given), by first day."""
    v = oncall_vacations
    query = select(v).where(v.c.rotation == rotation, v.c.removed_at.is_(None)).order_by(v.c.first_day, v.c.id)
    if person is not None:
        query = query.where(v.c.person == person)
    return [Vacation(r.id, r.person, r.first_day, r.last_day, r.note, "ops DB", r.created_by) for r in connection.execute(query)]


def add_vacation(connection: Connection, rotation: str, person: str, first_day, last_day, note: str | None, *,
                 created_by: str, at: datetime) -> int:
    vacation_id = connection.execute(insert(oncall_vacations).values(
        rotation=rotation, person=person, first_day=first_day, last_day=last_day, note=note, created_by=created_by,
        created_at=at)).inserted_primary_key[0]
    bump_version(connection)
    return vacation_id


def remove_vacation(connection: Connection, rotation: str, vacation_id: int, *, removed_by: str, at: datetime) -> bool:
    """Mark the active vacation removed (kept for the audit trail); False if there is none."""
    v = oncall_vacations
    done = connection.execute(update(v).where(v.c.rotation == rotation, v.c.id == vacation_id, v.c.removed_at.is_(None))
                              .values(removed_at=at, removed_by=removed_by)).rowcount
    if done:
        bump_version(connection)
    return bool(done)


def link_vacation_request(connection: Connection, vacation_id: int, request_id: int) -> None:
    connection.execute(insert(oncall_vacation_swaps).values(vacation_id=vacation_id, request_id=request_id))


def vacation_request_ids(connection: Connection, vacation_id: int) -> list[int]:
    w = oncall_vacation_swaps
    return [r.request_id for r in connection.execute(select(w.c.request_id).where(w.c.vacation_id == vacation_id).order_by(w.c.id))]
