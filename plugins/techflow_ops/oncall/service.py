"""`ScheduleService`: who is on call, now or at any instant, and whom to page for a pipeline.

Built from the rotation config (`oncall.yaml`) and the state in the ops DB (store.py): the
published schedule plus the overrides. Beyond the published horizon (or when
nothing was published yet) the schedule is continued by the same deterministic scheduler
from the published history, marked `source="generated"`. Lookups bisect over per-role sorted
shifts, so `now()` does no scheduling once loaded.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from .. import settings
from ..opsdb import get_engine
from ..registry import ConfigError, Registry, get_registry
from ..reloading import ReloadingCache
from . import store, swaps, vacations
from .config import check_override_set, load_oncall_config
from .model import (
    ROLES,
    Gap,
    Handoff,
    OnCallConfig,
    OnCallNow,
    Override,
    Shift,
    ShiftChange,
    iso,
    shift_order,
    utc,
    vacation_interval,
)
from .published import Published, PublishResult, publish, read_published
from .scheduler import FAIR, Scheduler, make_timeline
from .timeline import intersect, merge, subtract, vacation_sets

EPSILON = timedelta(microseconds=1)
# Rolling publish: the engine republishes when less than the horizon minus this is published,
# so a weekly hand-off never finds the schedule short and a publish happens about once a week.
ROLLING_MARGIN = timedelta(weeks=1)
OVERRIDES_SOURCE = "ops DB (oncall_overrides)"

log = logging.getLogger(__name__)


@dataclass
class _RoleIndex:
    shifts: list[Shift]
    starts: list[datetime]

    def at(self, at: datetime) -> Shift | None:
        i = bisect_right(self.starts, at) - 1
        if i >= 0 and at < self.shifts[i].end:
            return self.shifts[i]
        return None


def apply_overrides(base: list[Shift], overrides: list[Shift]) -> list[Shift]:
    """Per role: the base shifts with override intervals cut out, plus the overrides."""
    out: list[Shift] = []
    for role in ROLES:
        cut = merge((o.start, o.end) for o in overrides if o.role == role)
        for s in base:
            if s.role == role:
                out += [Shift(s.person, role, a, b, s.source, s.reason) for a, b in subtract([(s.start, s.end)], cut)]
        out += [o for o in overrides if o.role == role]
    return sorted(out, key=shift_order)


class ScheduleService:
    def __init__(self, config: OnCallConfig, registry: Registry, published: Published | None, *,
                 now: datetime | None = None, scheduler: Scheduler = FAIR):
        self.config = config
        self.registry = registry
        self.rotation = config.rotation
        self.published = published
        now = utc(now or datetime.now(timezone.utc))
        rot = self.rotation
        horizon = now + timedelta(weeks=rot.horizon_weeks)
        covered_until = max(horizon, published.until if published else horizon)
        self.timeline = make_timeline(rot, covered_until + rot.shift_length, published.shifts[0].start if published and published.shifts else None)
        base = list(published.shifts) if published else []
        generated: list[Shift] = []
        self._gaps: list[Gap] = list(published.gaps) if published else []
        if not published or published.until < horizon:
            joiners = frozenset(rot.members) - set(published.members) if published else frozenset()
            continuation = scheduler.generate(rot, horizon, frozen=base, joiners=joiners, timeline=self.timeline)
            generated = [Shift(s.person, s.role, s.start, s.end, "generated", s.reason) for s in continuation.shifts]
            self._gaps += continuation.gaps
        self.covered_from = self.timeline.epoch
        last = max((s.end for s in base + generated), default=self.covered_from)
        self.covered_until = max(last, published.until if published else last)
        self.base_shifts = sorted(base + generated, key=shift_order)
        self.overrides = [o.to_shift() for o in config.overrides]
        self.effective = apply_overrides(self.base_shifts, self.overrides)
        self._index = {role: _RoleIndex([s for s in self.effective if s.role == role], []) for role in ROLES}
        for idx in self._index.values():
            idx.starts = [s.start for s in idx.shifts]
        self._vacations = vacation_sets(rot)
        self._boundaries = sorted({t for s in self.effective for t in (s.start, s.end)})

    # --- resolution -------------------------------------------------------------------------------
    def holder(self, role: str, at: datetime) -> Shift | None:
        return self._index[role].at(utc(at))

    def now(self, at: datetime | None = None) -> OnCallNow:
        at = utc(at or datetime.now(timezone.utc))
        held = {role: self._index[role].at(at) for role in ROLES}
        in_period = self.timeline.investor.contains(at)
        off_hours = not self.timeline.in_coverage(at)
        gaps: list[str] = []
        if at < self.covered_from or at >= self.covered_until:
            where = "before the rotation starts" if at < self.covered_from else \
                f"beyond the schedule horizon (covered until {iso(self.covered_until)}); run `techflow-ops oncall publish`"
            gaps += [f"{role}: no one on call {where}" for role in self.rotation.roles[:2] if held[role] is None]
        elif off_hours:
            gaps += [f"{role}: outside the rotation's coverage hours" for role in ("primary", "secondary") if held[role] is None]
        else:
            wanted = ["primary", "secondary"] + (["investor_watch"] if in_period and "investor_watch" in self.rotation.roles else [])
            for role in wanted:
                if held[role] is None:
                    reason = next((g.reason for g in self._gaps if g.role == role and g.start <= at < g.end), "no shift scheduled")
                    gaps.append(f"{role}: uncovered: {reason}")
        people = [(role, s.person) for role, s in held.items() if s is not None]
        for i, (role_a, person_a) in enumerate(people):
            for role_b, person_b in people[i + 1:]:
                if person_a == person_b:
                    gaps.append(f"{role_b}: conflict: {person_a} also holds {role_a}")
        for role, s in held.items():
            if s is not None and s.person in self._vacations and self._vacations[s.person].contains(at):
                gaps.append(f"{role}: conflict: {s.person} is on vacation (republish or add an override)")
        return OnCallNow(
            at=at,
            primary=held["primary"].person if held["primary"] else None,
            secondary=held["secondary"].person if held["secondary"] else None,
            investor_watch=held["investor_watch"].person if held["investor_watch"] else None,
            in_investor_period=in_period,
            next_handoff=self._next_handoff(at),
            gaps=gaps,
            off_hours=off_hours,
            sources={role: s.source for role, s in held.items() if s is not None},
        )

    def _holders_at(self, at: datetime) -> tuple:
        return tuple((s.person if (s := self._index[r].at(at)) else None) for r in ROLES)

    def _next_handoff(self, at: datetime) -> datetime | None:
        i = bisect_right(self._boundaries, at)
        current = self._holders_at(at)
        while i < len(self._boundaries):
            t = self._boundaries[i]
            after = self._holders_at(t)
            if after != current:
                return t
            i += 1
        return None

    def away(self, at: datetime) -> dict[str, str]:
        """Who cannot be paged at `at` and why: rotation members on vacation (oncall.yaml), and
        every member outside the rotation's covered hours when it has coverage hours."""
        at = utc(at)
        away = {person: "on vacation" for person, spans in self._vacations.items() if spans.contains(at)}
        if not self.timeline.in_coverage(at):
            for member in self.rotation.members:
                away.setdefault(member, "outside the rotation's covered hours")
        return away

    # --- ranges -----------------------------------------------------------------------------------
    def shifts(self, start: datetime, end: datetime) -> list[Shift]:
        """Effective shifts (overrides applied) overlapping [start, end), unclipped."""
        start, end = utc(start), utc(end)
        return [s for s in self.effective if s.start < end and s.end > start]

    def shifts_of(self, person: str, start: datetime | None = None, end: datetime | None = None) -> list[Shift]:
        start = utc(start) if start else self.covered_from
        end = utc(end) if end else self.covered_until
        return [s for s in self.shifts(start, end) if s.person == person]

    def handoffs(self, start: datetime, end: datetime) -> list[Handoff]:
        """Every change of holder in [start, end): who comes on, who goes off, which role."""
        start, end = utc(start), utc(end)
        out = []
        for t in self._boundaries[bisect_left(self._boundaries, start):bisect_left(self._boundaries, end)]:
            before, after = self._holders_at(t - EPSILON), self._holders_at(t)
            out += [Handoff(t, role, on, off) for role, off, on in zip(ROLES, before, after) if on != off]
        return out

    def gaps(self, start: datetime, end: datetime) -> list[Gap]:
        """Uncovered stretches (primary, secondary, investor watch in its period) and conflicts
        (one person in two roles, someone scheduled while on vacation) in [start, end)."""
        start, end = utc(start), utc(end)
        out: list[Gap] = []
        lo, hi = max(start, self.covered_from), min(end, self.covered_until)
        if start < self.covered_from:
            out += [Gap(r, start, min(end, self.covered_from), "uncovered", "before the rotation starts") for r in ("primary", "secondary")]
        if end > self.covered_until:
            out += [Gap(r, max(start, self.covered_until), end, "uncovered",
                        "beyond the schedule horizon; run `techflow-ops oncall publish`") for r in ("primary", "secondary")]
        if lo < hi:
            coverage = self.timeline.coverage(lo, hi)
            for role in self.rotation.roles:
                need = coverage if role != "investor_watch" else intersect(coverage, self.timeline.investor.overlap(lo, hi))
                held = merge((max(s.start, lo), min(s.end, hi)) for s in self._index[role].shifts if s.start < hi and s.end > lo)
                for a, b in subtract(need, held):
                    reason = next((g.reason for g in self._gaps if g.role == role and g.start < b and g.end > a), "no shift scheduled")
                    out.append(Gap(role, a, b, "uncovered", reason))
            window = [s for s in self.effective if s.start < hi and s.end > lo]
            for i, a in enumerate(window):
                for b in window[i + 1:]:
                    if b.start >= a.end:
                        continue
                    if a.person == b.person and a.role != b.role:
                        out.append(Gap(b.role, max(a.start, b.start), min(a.end, b.end), "conflict",
                                       f"{a.person} holds {a.role} and {b.role} at once", (a.person,)))
            for s in window:
                vac = self._vacations.get(s.person)
                for a, b in (vac.overlap(max(s.start, lo), min(s.end, hi)) if vac else []):
                    out.append(Gap(s.role, a, b, "conflict", f"{s.person} is scheduled while on vacation", (s.person,)))
        return sorted(out, key=lambda g: (g.start, ROLES.index(g.role), g.kind))

    def changes_since(self, since: datetime | None = None) -> list[ShiftChange]:
        """Shifts moved by publishes after `since` (default: by the latest publish only)."""
        log = self.published.changelog if self.published else []
        if since is None:
            if not self.published:
                return []
            return [c for c in log if c.published_at == self.published.published_at]
        since = utc(since)
        return [c for c in log if c.published_at > since]


def _yaml_state(config: OnCallConfig):
    """What the one-time import reads: the published file and the overrides file (oncall_overrides.yaml)."""
    return read_published(config.published_file), config.overrides


def load_schedule_service(config_dir: Path | None = None, *, now: datetime | None = None,
                          engine: Engine | None = None) -> ScheduleService:
    """A fresh service: the registry and rotation from the config folder, the published schedule
    and overrides from the ops DB (on first use, the YAML files imported into it once)."""
    config_dir = Path(config_dir or settings.config_dir())
    registry = get_registry(config_dir)
    config = load_oncall_config(config_dir, registry)
    engine = engine or get_engine()
    rotation = config.rotation.id
    report = store.import_once(engine, rotation, lambda: _yaml_state(config), at=datetime.now(timezone.utc))
    if report is not None:
        log.warning("on-call first use: %s (the ops DB holds the schedule state from now on; "
                    "`techflow-ops oncall export` writes the files)", report.describe(config.published_file, config.overrides_file))
    with engine.connect() as connection:
        published = store.load_published(connection, rotation)
        overrides = store.load_overrides(connection, rotation)
        config = with_db_vacations(config, registry, store.load_vacations(connection, rotation))
    return ScheduleService(replace(config, overrides=overrides), registry, published, now=now)


def with_db_vacations(config: OnCallConfig, registry: Registry, stored: list[vacations.Vacation]) -> OnCallConfig:
    """`config` with the ops DB's vacations added to oncall.yaml's (the union: the YAML ones stay
    configuration), each as whole days in the person's own time zone like the YAML ones."""
    if not stored:
        return config
    merged = {person: list(spans) for person, spans in config.rotation.vacations.items()}
    for vac in stored:
        tz = ZoneInfo(registry.people[vac.person].timezone) if vac.person in registry.people else config.rotation.tz
        merged.setdefault(vac.person, []).append(vacation_interval(vac.first_day, vac.last_day, tz))
    spans = {person: tuple(sorted(items)) for person, items in merged.items()}
    return replace(config, rotation=replace(config.rotation, vacations=spans))


def publish_schedule(config_dir: Path | None, at: datetime, *, weeks: int | None = None, source: str = "publish",
                     by: str | None = None, engine: Engine | None = None) -> PublishResult:
    """Publish from `at` into the ops DB (one transaction, the state version bumped) on top of
    the DB's current schedule; nothing is recorded when nothing would change."""
    config_dir = Path(config_dir or settings.config_dir())
    registry = get_registry(config_dir)
    config = load_oncall_config(config_dir, registry)
    engine = engine or get_engine()
    store.import_once(engine, config.rotation.id, lambda: _yaml_state(config), at=datetime.now(timezone.utc))
    with engine.begin() as connection:
        store.lock_state(connection)  # concurrent publishers build on each other's result, one at a time
        config = with_db_vacations(config, registry, store.load_vacations(connection, config.rotation.id))
        existing = store.load_published(connection, config.rotation.id)
        result = publish(config, at, existing, weeks=weeks)
        if result.written:
            store.record_publish(connection, result.published, result.frozen_until, result.moved, source=source, created_by=by)
    return result


def needs_rolling_publish(service: ScheduleService, at: datetime) -> bool:
    """True when less than `publish.horizon_weeks` minus the margin is published ahead of `at`."""
    wanted = utc(at) + timedelta(weeks=service.rotation.horizon_weeks) - ROLLING_MARGIN
    return service.published is None or service.published.until < wanted


def rolling_publish(service: ScheduleService, at: datetime, *, engine: Engine | None = None) -> PublishResult | None:
    """The engine tick's publish: None when the published horizon is long enough (the check
    needs no query: `service` is the cached, current schedule)."""
    if not needs_rolling_publish(service, at):
        return None
    result = publish_schedule(service.config.config_dir, at, source="rolling", by="escalation engine", engine=engine)
    log.info("on-call rolling publish at %s: published until %s, %d stretch(es) moved", iso(at), iso(result.published.until),
             len(result.moved))
    return result


def add_override(config_dir: Path | None, override: Override, *, by: str, engine: Engine | None = None,
                 at: datetime | None = None) -> None:
    """Record an override in the ops DB (the API the CLI and the web app call). Raises ConfigError
    naming the field and value when it is invalid (unknown person or role, end before start, an
    id in use, overlap with another override of the role)."""
    config_dir = Path(config_dir or settings.config_dir())
    registry = get_registry(config_dir)
    config = load_oncall_config(config_dir, registry)
    engine = engine or get_engine()
    rotation = config.rotation.id
    store.import_once(engine, rotation, lambda: _yaml_state(config), at=datetime.now(timezone.utc))
    override = replace(override, start=utc(override.start), end=utc(override.end))
    with engine.begin() as connection:
        store.lock_state(connection)  # the overlap check sees every other writer's overrides
        problems = check_override_set(store.load_overrides(connection, rotation) + (override,), OVERRIDES_SOURCE, registry)
        if problems:
            raise ConfigError(problems)
        store.add_override(connection, rotation, override, created_by=by, at=at or datetime.now(timezone.utc))


def remove_override(config_dir: Path | None, override_id: str, *, by: str, engine: Engine | None = None,
                    at: datetime | None = None) -> bool:
    """Remove the active override `override_id` (kept in the DB as removed); False if there is none."""
    config_dir = Path(config_dir or settings.config_dir())
    config = load_oncall_config(config_dir, get_registry(config_dir))
    engine = engine or get_engine()
    store.import_once(engine, config.rotation.id, lambda: _yaml_state(config), at=datetime.now(timezone.utc))
    with engine.begin() as connection:
        return store.remove_override(connection, config.rotation.id, override_id, removed_by=by,
                                     at=at or datetime.now(timezone.utc))


def import_yaml_state(config_dir: Path | None, *, force: bool = False, by: str = "oncall import",
                      engine: Engine | None = None) -> store.ImportReport:
    """`oncall import`: the published file and oncall_overrides.yaml into the ops DB (idempotent;
    store.StateConflict when the DB has a different history and not `force`)."""
    config_dir = Path(config_dir or settings.config_dir())
    config = load_oncall_config(config_dir, get_registry(config_dir))
    published, overrides = _yaml_state(config)
    engine = engine or get_engine()
    with engine.begin() as connection:
        return store.import_state(connection, config.rotation.id, published, overrides, at=datetime.now(timezone.utc),
                                  by=by, force=force)


def check_config_dir(config_dir: Path, registry: Registry) -> None:
    """`techflow-ops config check` hook: raise ConfigError if the on-call config or the
    published schedule it points at is invalid."""
    config = load_oncall_config(Path(config_dir), registry)
    published = read_published(config.published_file)
    if published is not None and published.rotation != config.rotation.id:
        raise ConfigError.single(config.published_file, "rotation", published.rotation,
                                 f"published for another rotation than {config.rotation.id!r}; republish")


_cache: ReloadingCache[ScheduleService] = ReloadingCache()
# (config folder, ops DB URL) -> (state version, token): the token object stays the same while
# the version does, so the cache (which compares `built_from` by identity) reloads on a change.
_version_tokens: dict[tuple, tuple[str | None, object]] = {}


def _version_token(key: tuple, version: str | None) -> object:
    seen = _version_tokens.get(key)
    if seen is None or seen[0] != version:
        seen = (version, object())
        _version_tokens[key] = seen
    return seen[1]


def get_schedule_service(config_dir: Path | None = None) -> ScheduleService:
    """The service, loaded once per process, config folder and ops DB; reloaded when the rotation
    file changes, the registry it checks people against reloads, or the on-call state in the ops
    DB changed. The last is one primary-key read of `engine_state.oncall_state_version` per call
    (every writer replaces it in its own transaction), so the next call after another process's
    commit sees the change: an override made in the web app pages the new holder at once."""
    config_dir = Path(config_dir or settings.config_dir()).resolve()
    registry = get_registry(config_dir)
    engine = get_engine()
    with engine.connect() as connection:
        version = store.state_version(connection)
    key = (config_dir, str(engine.url))
    return _cache.get(
        key, lambda: load_schedule_service(config_dir, engine=engine),
        files=lambda service: (service.config.oncall_file,),
        built_from=(registry, _version_token(key, version)),
    )


def clear_schedule_cache() -> None:
    _cache.clear()
    _version_tokens.clear()


# --- swaps and takes (swaps.py has the state machine; here it runs in one ops-DB transaction) ---

SWAP_NOTICE_ROLE = "on-call swap"


@dataclass
class _SwapContext:
    config: OnCallConfig
    registry: Registry
    engine: Engine
    at: datetime

    @property
    def rotation(self):
        return self.config.rotation

    @property
    def lead(self) -> str | None:
        team = self.registry.teams.get(self.rotation.team)
        return team.lead if team else None

    def effective(self, connection) -> list[Shift]:
        """The current effective schedule, read in the caller's (locked) transaction."""
        rotation = self.rotation.id
        published, overrides = store.load_published(connection, rotation), store.load_overrides(connection, rotation)
        return ScheduleService(replace(self.config, overrides=overrides), self.registry, published, now=self.at).effective


def _swap_context(config_dir: Path | None, engine: Engine | None, at: datetime | None) -> _SwapContext:
    config_dir = Path(config_dir or settings.config_dir())
    registry = get_registry(config_dir)
    config = load_oncall_config(config_dir, registry)
    engine = engine or get_engine()
    store.import_once(engine, config.rotation.id, lambda: _yaml_state(config), at=datetime.now(timezone.utc))
    with engine.connect() as connection:  # eligibility sees the ops DB's vacations too
        config = with_db_vacations(config, registry, store.load_vacations(connection, config.rotation.id))
    return _SwapContext(config, registry, engine, utc(at or datetime.now(timezone.utc)))


def _known_person(ctx: _SwapContext, person: str, field: str, error=swaps.SwapError) -> str:
    if person not in ctx.registry.people:
        raise error(field, person, f"unknown person (not in {ctx.registry.config_dir / 'people.yaml'})")
    return person


def _member(ctx: _SwapContext, person: str, field: str) -> str:
    _known_person(ctx, person, field)
    if person not in ctx.rotation.members:
        raise swaps.SwapError(field, person, f"not a member of rotation {ctx.rotation.id!r}")
    return person


def _role(ctx: _SwapContext, role: str) -> str:
    if role not in ctx.rotation.roles:
        raise swaps.SwapError("role", role, f"not a role of rotation {ctx.rotation.id!r} (one of {', '.join(ctx.rotation.roles)})")
    return role


def _load_request(ctx: _SwapContext, connection, request_id: int) -> swaps.SwapRequest:
    found = store.load_swap_requests(connection, ctx.rotation.id, request_id=request_id)
    if not found:
        raise swaps.SwapError("id", request_id, "no such swap request (see `techflow-ops oncall swap list`)", "not_found")
    return found[0]


def _decided(request: swaps.SwapRequest) -> swaps.SwapError:
    who = request.decided_by or request.accepted_by or request.requester
    when = request.decided_at or request.accepted_at or request.updated_at
    return swaps.SwapError("id", request.id, f"already {request.status} (by {who} at {iso(when)})", "conflict")


def _notify(ctx: _SwapContext, connection, request_id: int, step: str, people, subject: str, body: str) -> int:
    """Tell `people` of a step of request `request_id` through the outbox, once each (oncall_notices_sent)."""
    from ..escalation.notices import Notice, person_recipient, queue_email
    from ..escalation.policy import get_policy

    smtp_conn_id = get_policy(ctx.config.config_dir).notifications.smtp_conn_id
    key, queued = f"swap:{ctx.rotation.id}:{request_id}:{step}", 0
    for person in dict.fromkeys(p for p in people if p):
        recipient = person_recipient(ctx.registry, person, SWAP_NOTICE_ROLE)
        if recipient is None or not store.record_notice(connection, ctx.rotation.id, key, person, "swap", ctx.at):
            continue
        queued += queue_email(connection, Notice(key, "swap", recipient, f"[TechFlow on-call] {subject}", body), smtp_conn_id, ctx.at)
    return queued


def _name(ctx: _SwapContext, person: str | None) -> str:
    return ctx.registry.people[person].name if person in ctx.registry.people else (person or "anyone eligible")


def _make_room(ctx: _SwapContext, connection, role: str, start: datetime, end: datetime, by: str) -> None:
    """Trim active overrides of `role` that overlap [start, end) (a stretch swapped again): the
    parts outside stay as overrides of their own, so the new one never overlaps another."""
    for old in store.load_overrides(connection, ctx.rotation.id):
        if old.role != role or old.start >= end or old.end <= start:
            continue
        store.remove_override(connection, ctx.rotation.id, old.id, removed_by=by, at=ctx.at)
        for a, b in subtract([(old.start, old.end)], [(start, end)]):
            store.add_override(connection, ctx.rotation.id, replace(old, id=f"{old.id}@{iso(a)}", start=a, end=b),
                               created_by=by, at=ctx.at)


def _apply(ctx: _SwapContext, connection, request: swaps.SwapRequest, cover: str, give_back: swaps.Stretch | None,
           by: str) -> None:
    """Put a request in effect: its overrides (state version bumped), an `applied` event per
    stretch moved, the request approved, and everyone whose shifts moved told."""
    effective = ctx.effective(connection)
    if not swaps.holds(effective, request.holder, request.role, request.start, request.end):
        raise swaps.SwapError("id", request.id, f"the schedule changed: {request.holder} no longer holds "
                              f"{request.role} {iso(request.start)} .. {iso(request.end)}; cancel and ask again", "conflict")
    why = swaps.ineligible_because(ctx.rotation, effective, cover, request.role, request.start, request.end)
    if why:
        raise swaps.SwapError("by", cover, f"not eligible for {request.role} {iso(request.start)} .. {iso(request.end)}: {why}")
    moved = []
    for override, stretch in swaps.overrides_for(request, cover, give_back):
        _make_room(ctx, connection, override.role, override.start, override.end, f"swap #{request.id}")
        store.add_override(connection, ctx.rotation.id, override, created_by=f"swap #{request.id} ({by})", at=ctx.at)
        store.add_swap_event(connection, request.id, ctx.rotation.id, swaps.SwapEvent(
            "applied", ctx.at, by, stretch.role, stretch.start, stretch.end, stretch.person, override.person, override.id))
        moved.append(f"{stretch.describe()}: {_name(ctx, stretch.person)} -> {_name(ctx, override.person)}")
    store.update_swap_request(connection, request.id, status="approved", decided_by=by, decided_at=ctx.at, updated_at=ctx.at)
    people = [request.holder, cover] + ([give_back.person] if give_back else [])
    _notify(ctx, connection, request.id, "applied", people, f"{request.kind} #{request.id} is in effect: your shifts moved",
            "The on-call schedule changed (in effect now, everywhere):\n" + "\n".join(f"  {line}" for line in moved)
            + f"\n\nDecided by {_name(ctx, by)}. See `techflow-ops oncall swap list` or the Calendar page.")


def list_swaps(config_dir: Path | None = None, *, statuses: tuple[str, ...] | None = None, engine: Engine | None = None,
               at: datetime | None = None) -> list[swaps.SwapRequest]:
    """Swap and take requests, newest first, each with its audit trail (`events`)."""
    ctx = _swap_context(config_dir, engine, at)
    with ctx.engine.connect() as connection:
        return store.load_swap_requests(connection, ctx.rotation.id, statuses=statuses)


def request_swap(config_dir: Path | None, *, by: str, role: str, start: datetime, end: datetime | None = None,
                 with_person: str | None = None, reason: str | None = None, engine: Engine | None = None,
                 at: datetime | None = None) -> swaps.SwapRequest:
    """`by` asks to hand [start, end) of their `role` shift (end None: to the shift's end) to
    `with_person`, or to anyone eligible (None or "anyone"). Raises swaps.SwapError naming the
    parameter and value (unknown person, not their shift, past, colleague not eligible)."""
    ctx = _swap_context(config_dir, engine, at)
    _member(ctx, by, "by")
    _role(ctx, role)
    counterpart = None if with_person in (None, "", swaps.ANYONE) else _member(ctx, with_person, "with")
    if counterpart == by:
        raise swaps.SwapError("with", counterpart, "is the person asking; name a colleague or 'anyone'")
    with ctx.engine.begin() as connection:
        store.lock_state(connection)
        return _request_swap_in(ctx, connection, by, role, utc(start), utc(end) if end else None, counterpart, reason)


def _request_swap_in(ctx: _SwapContext, connection, by: str, role: str, start: datetime, end: datetime | None,
                     counterpart: str | None, reason: str | None) -> swaps.SwapRequest:
    """request_swap inside the caller's locked transaction (a new vacation opens its requests here)."""
    effective = ctx.effective(connection)
    stretch = swaps.stretch_of(effective, by, role, start, end, field="start", at=ctx.at)
    if counterpart is not None:
        why = swaps.ineligible_because(ctx.rotation, effective, counterpart, role, stretch.start, stretch.end)
        if why:
            raise swaps.SwapError("with", counterpart, f"not eligible for {stretch.describe()}: {why}")
        asked = [counterpart]
    else:
        asked = [p for p in ctx.rotation.members if p != by
                 and not swaps.ineligible_because(ctx.rotation, effective, p, role, stretch.start, stretch.end)]
    for other in store.load_swap_requests(connection, ctx.rotation.id, statuses=swaps.OPEN):
        if other.holder == by and other.role == role and other.start < stretch.end and other.end > stretch.start:
            raise swaps.SwapError("start", iso(stretch.start), f"request #{other.id} already asks for this stretch "
                                  f"({other.status}); cancel it first", "conflict")
    request_id = store.insert_swap_request(connection, ctx.rotation.id, kind=swaps.SWAP, requester=by, role=role,
                                           start=stretch.start, end=stretch.end, counterpart=counterpart, reason=reason,
                                           at=ctx.at)
    store.add_swap_event(connection, request_id, ctx.rotation.id, swaps.SwapEvent(
        "requested", ctx.at, by, role, stretch.start, stretch.end, by, counterpart, note=reason))
    _notify(ctx, connection, request_id, "requested", asked, f"{_name(ctx, by)} asks you to swap {stretch.describe()}",
            f"{_name(ctx, by)} asks {_name(ctx, counterpart)} to take {stretch.describe()}"
            + (f" ({reason})" if reason else "") + f".\nAnswer with `techflow-ops oncall swap accept|decline {request_id} "
            "--by YOU` or from the Calendar page.")
    return store.load_swap_requests(connection, ctx.rotation.id, request_id=request_id)[0]


def accept_swap(config_dir: Path | None, request_id: int, *, by: str, give_back_start: datetime | None = None,
                give_back_end: datetime | None = None, engine: Engine | None = None,
                at: datetime | None = None) -> swaps.SwapRequest:
    """`by` accepts request `request_id`, optionally giving back [give_back_start, give_back_end)
    of their own shift in the same role. In effect at once unless `rules.swap_approval: lead`."""
    ctx = _swap_context(config_dir, engine, at)
    _member(ctx, by, "by")
    with ctx.engine.begin() as connection:
        store.lock_state(connection)  # two acceptors of one request: the second sees it accepted
        request = _load_request(ctx, connection, request_id)
        if request.kind != swaps.SWAP:
            raise swaps.SwapError("id", request_id, "is a take: nothing to accept (a lead approves it)", "conflict")
        if request.status != "requested":
            raise _decided(request)
        if by == request.requester:
            raise swaps.SwapError("by", by, f"asked for request #{request_id}; the colleague accepts it", "forbidden")
        if request.counterpart is not None and by != request.counterpart:
            raise swaps.SwapError("by", by, f"request #{request_id} asks {request.counterpart}, not {by}", "forbidden")
        if request.start <= ctx.at:
            raise swaps.SwapError("id", request_id, f"its stretch began {iso(request.start)}: too late to accept", "conflict")
        effective = ctx.effective(connection)
        why = swaps.ineligible_because(ctx.rotation, effective, by, request.role, request.start, request.end)
        if why:
            raise swaps.SwapError("by", by, f"not eligible for {request.role} {iso(request.start)} .. {iso(request.end)}: {why}")
        give_back = None
        if give_back_start is not None:
            give_back = swaps.stretch_of(effective, by, request.role, utc(give_back_start),
                                         utc(give_back_end) if give_back_end else None, field="give_back", at=ctx.at)
            why = swaps.ineligible_because(ctx.rotation, effective, request.requester, give_back.role, give_back.start,
                                           give_back.end)
            if why:
                raise swaps.SwapError("give_back", iso(give_back.start), f"{request.requester} cannot take it back: {why}")
        store.update_swap_request(connection, request_id, status="accepted", accepted_by=by, accepted_at=ctx.at, updated_at=ctx.at)
        store.add_swap_event(connection, request_id, ctx.rotation.id, swaps.SwapEvent(
            "accepted", ctx.at, by, give_back.role if give_back else None, give_back.start if give_back else None,
            give_back.end if give_back else None, by if give_back else None, request.requester if give_back else None))
        request = replace(request, accepted_by=by)
        if ctx.rotation.swap_approval == "lead":
            _notify(ctx, connection, request_id, "accepted", [request.requester, ctx.lead],
                    f"swap #{request_id} accepted by {_name(ctx, by)}, waiting for the lead",
                    f"{_name(ctx, by)} accepted {request.role} {iso(request.start)} .. {iso(request.end)} from "
                    f"{_name(ctx, request.requester)}. It takes effect once {_name(ctx, ctx.lead)} approves: "
                    f"`techflow-ops oncall swap approve {request_id} --by {ctx.lead}`.")
        else:
            _apply(ctx, connection, request, by, give_back, by)
        return _load_request(ctx, connection, request_id)


def approve_swap(config_dir: Path | None, request_id: int, *, by: str, engine: Engine | None = None,
                 at: datetime | None = None) -> swaps.SwapRequest:
    """The team lead puts an accepted swap or a take in effect (`rules.swap_approval: lead`)."""
    ctx = _swap_context(config_dir, engine, at)
    _known_person(ctx, by, "by")
    with ctx.engine.begin() as connection:
        store.lock_state(connection)
        request = _load_request(ctx, connection, request_id)
        if request.status == "requested":
            raise swaps.SwapError("id", request_id, f"not accepted yet (waiting for {request.counterpart or 'anyone eligible'})",
                                  "conflict")
        if request.status != "accepted":
            raise _decided(request)
        if ctx.rotation.swap_approval != "lead":
            raise swaps.SwapError("id", request_id, "needs no approval (rules.swap_approval: none)", "conflict")
        if by != ctx.lead:
            raise swaps.SwapError("by", by, f"only the lead of team {ctx.rotation.team!r} ({ctx.lead}) approves swaps", "forbidden")
        if request.start <= ctx.at:
            raise swaps.SwapError("id", request_id, f"its stretch began {iso(request.start)}: too late to approve", "conflict")
        store.add_swap_event(connection, request_id, ctx.rotation.id, swaps.SwapEvent("approved", ctx.at, by))
        _apply(ctx, connection, request, request.cover, request.give_back, by)
        return _load_request(ctx, connection, request_id)


def decline_swap(config_dir: Path | None, request_id: int, *, by: str, reason: str | None = None, engine: Engine | None = None,
                 at: datetime | None = None) -> swaps.SwapRequest:
    """The named colleague declines a request, or the lead refuses one waiting for approval."""
    ctx = _swap_context(config_dir, engine, at)
    _known_person(ctx, by, "by")
    with ctx.engine.begin() as connection:
        store.lock_state(connection)
        request = _load_request(ctx, connection, request_id)
        if request.status == "requested":
            if request.counterpart is None:
                raise swaps.SwapError("id", request_id, "is open to anyone eligible: nobody declines it (the requester may "
                                      "cancel it)", "conflict")
            if by != request.counterpart:
                raise swaps.SwapError("by", by, f"request #{request_id} asks {request.counterpart}, not {by}", "forbidden")
        elif request.status == "accepted":
            if by != ctx.lead:
                raise swaps.SwapError("by", by, f"request #{request_id} waits for the lead {ctx.lead}; only they decline it now",
                                      "forbidden")
        else:
            raise _decided(request)
        store.update_swap_request(connection, request_id, status="declined", decided_by=by, decided_at=ctx.at, updated_at=ctx.at)
        store.add_swap_event(connection, request_id, ctx.rotation.id, swaps.SwapEvent("declined", ctx.at, by, note=reason))
        _notify(ctx, connection, request_id, "declined", [request.requester, request.accepted_by],
                f"{request.kind} #{request_id} declined by {_name(ctx, by)}",
                f"{_name(ctx, by)} declined {request.kind} #{request_id} ({request.role} {iso(request.start)} .. "
                f"{iso(request.end)})" + (f": {reason}" if reason else "") + ". The schedule is unchanged.")
        return _load_request(ctx, connection, request_id)


def cancel_swap(config_dir: Path | None, request_id: int, *, by: str, engine: Engine | None = None,
                at: datetime | None = None) -> swaps.SwapRequest:
    """The requester withdraws a request that is not in effect yet."""
    ctx = _swap_context(config_dir, engine, at)
    _known_person(ctx, by, "by")
    with ctx.engine.begin() as connection:
        store.lock_state(connection)
        request = _load_request(ctx, connection, request_id)
        if request.status not in swaps.OPEN:
            raise _decided(request)
        if by != request.requester:
            raise swaps.SwapError("by", by, f"only the requester {request.requester} cancels request #{request_id}", "forbidden")
        _cancel_in(ctx, connection, request, by)
        return _load_request(ctx, connection, request_id)


def _cancel_in(ctx: _SwapContext, connection, request: swaps.SwapRequest, by: str, why: str = "") -> None:
    """Cancel an open request inside the caller's transaction (also when its vacation is removed)."""
    request_id = request.id
    store.update_swap_request(connection, request_id, status="cancelled", decided_by=by, decided_at=ctx.at, updated_at=ctx.at)
    store.add_swap_event(connection, request_id, ctx.rotation.id, swaps.SwapEvent("cancelled", ctx.at, by, note=why or None))
    _notify(ctx, connection, request_id, "cancelled", [request.counterpart, request.accepted_by],
            f"{request.kind} #{request_id} cancelled by {_name(ctx, by)}",
            f"{_name(ctx, by)} cancelled {request.kind} #{request_id} ({request.role} {iso(request.start)} .. "
            f"{iso(request.end)})" + (f": {why}" if why else "") + ". The schedule is unchanged.")


def take_shift(config_dir: Path | None, *, by: str, holder: str, role: str, start: datetime, end: datetime | None = None,
               reason: str | None = None, engine: Engine | None = None, at: datetime | None = None) -> swaps.SwapRequest:
    """`by` covers [start, end) of `holder`'s `role` shift outright (end None: to the shift's
    end). In effect at once, or once the lead approves (`rules.swap_approval: lead`)."""
    ctx = _swap_context(config_dir, engine, at)
    _member(ctx, by, "by")
    _member(ctx, holder, "from")
    _role(ctx, role)
    if holder == by:
        raise swaps.SwapError("from", holder, "is the person taking; name whose shift you cover")
    with ctx.engine.begin() as connection:
        store.lock_state(connection)
        effective = ctx.effective(connection)
        stretch = swaps.stretch_of(effective, holder, role, utc(start), utc(end) if end else None, field="start", at=ctx.at)
        why = swaps.ineligible_because(ctx.rotation, effective, by, role, stretch.start, stretch.end)
        if why:
            raise swaps.SwapError("by", by, f"not eligible for {stretch.describe()}: {why}")
        request_id = store.insert_swap_request(connection, ctx.rotation.id, kind=swaps.TAKE, requester=by, role=role,
                                               start=stretch.start, end=stretch.end, counterpart=holder, reason=reason, at=ctx.at)
        store.update_swap_request(connection, request_id, status="accepted", accepted_by=by, accepted_at=ctx.at)
        for action in ("requested", "accepted"):
            store.add_swap_event(connection, request_id, ctx.rotation.id, swaps.SwapEvent(
                action, ctx.at, by, role, stretch.start, stretch.end, holder, by, note=reason if action == "requested" else None))
        request = store.load_swap_requests(connection, ctx.rotation.id, request_id=request_id)[0]
        if ctx.rotation.swap_approval == "lead":
            _notify(ctx, connection, request_id, "accepted", [holder, ctx.lead],
                    f"{_name(ctx, by)} offers to take {stretch.describe()}, waiting for the lead",
                    f"{_name(ctx, by)} offers to cover {_name(ctx, holder)}'s {stretch.describe()}"
                    + (f" ({reason})" if reason else "") + f". It takes effect once {_name(ctx, ctx.lead)} approves: "
                    f"`techflow-ops oncall swap approve {request_id} --by {ctx.lead}`.")
        else:
            _apply(ctx, connection, request, by, None, by)
        return _load_request(ctx, connection, request_id)


# --- vacations (vacations.py has the checks; the ops DB holds them next to oncall.yaml's) -------

@dataclass
class VacationAdded:
    vacation: vacations.Vacation
    requests: list[swaps.SwapRequest]  # one per published stretch the vacation hit

    def to_json(self) -> dict:
        return {**self.vacation.to_json(), "swap_requests": [r.to_json() for r in self.requests]}


def _yaml_vacations(ctx: _SwapContext, yaml_config: OnCallConfig) -> list[vacations.Vacation]:
    """oncall.yaml's vacations as whole local days (configuration: listed, never removed here)."""
    out = []
    for person, spans in yaml_config.rotation.vacations.items():
        tz = ZoneInfo(ctx.registry.people[person].timezone) if person in ctx.registry.people else ctx.rotation.tz
        for a, b in spans:
            out.append(vacations.Vacation(None, person, a.astimezone(tz).date(), (b.astimezone(tz) - timedelta(days=1)).date(),
                                          None, "oncall.yaml"))
    return out


def list_vacations(config_dir: Path | None = None, *, person: str | None = None, engine: Engine | None = None) -> list[vacations.Vacation]:
    """Every vacation the schedule uses: oncall.yaml's and the ops DB's, by first day."""
    ctx = _swap_context(config_dir, engine, None)
    yaml_config = load_oncall_config(ctx.config.config_dir, ctx.registry)
    with ctx.engine.connect() as connection:
        stored = store.load_vacations(connection, ctx.rotation.id, person)
    listed = [v for v in _yaml_vacations(ctx, yaml_config) if person in (None, v.person)] + stored
    return sorted(listed, key=lambda v: (v.first_day, v.person, v.id or 0))


def add_vacation(config_dir: Path | None, *, person: str, first_day, last_day, note: str | None = None, by: str | None = None,
                 engine: Engine | None = None, at: datetime | None = None) -> VacationAdded:
    """Record `person`'s vacation (whole local days, `last_day` inclusive) in the ops DB. The
    published schedule is not regenerated: each published stretch of theirs it hits gets a swap
    request to the next eligible person in rotation order (or anyone eligible), the vacation as
    its reason. Raises vacations.VacationError naming the parameter (unknown person, end before
    start, overlap with another vacation of theirs, a stretch already asked for)."""
    ctx = _swap_context(config_dir, engine, at)
    _member(ctx, person, "person")
    if by is not None:
        _known_person(ctx, by, "by", vacations.VacationError)
    yaml_config = load_oncall_config(ctx.config.config_dir, ctx.registry)
    with ctx.engine.begin() as connection:
        store.lock_state(connection)  # the overlap check sees every other writer's vacations
        vacations.check_days(person, first_day, last_day, _yaml_vacations(ctx, yaml_config)
                             + store.load_vacations(connection, ctx.rotation.id, person))
        # What was published before this vacation: the shifts it hits keep their holder until a swap is accepted.
        published = store.load_published(connection, ctx.rotation.id)
        effective = [s for s in ctx.effective(connection) if s.source != "generated"
                     and (published is None or s.start < published.until)]
        vacation_id = store.add_vacation(connection, ctx.rotation.id, person, first_day, last_day, note, created_by=by or person,
                                         at=ctx.at)
        tz = ZoneInfo(ctx.registry.people[person].timezone)
        away = vacation_interval(first_day, last_day, tz)
        why = vacations.reason(vacation_id, person, first_day, last_day, note)
        opened = []
        for role, start, end in vacations.hit_stretches(effective, person, away, ctx.at):
            counterpart = vacations.next_in_rotation(ctx.rotation, effective, person, role, start, end)
            request = _request_swap_in(ctx, connection, person, role, start, end, counterpart, why)
            store.link_vacation_request(connection, vacation_id, request.id)
            opened.append(request)
        vacation = next(v for v in store.load_vacations(connection, ctx.rotation.id, person) if v.id == vacation_id)
        return VacationAdded(vacation, opened)


def remove_vacation(config_dir: Path | None, vacation_id: int, *, by: str | None = None, engine: Engine | None = None,
                    at: datetime | None = None) -> list[swaps.SwapRequest]:
    """Remove an ops-DB vacation (kept as removed) and cancel the swap requests it opened that
    are still open; those cancelled are returned. VacationError (not_found) when there is none."""
    ctx = _swap_context(config_dir, engine, at)
    if by is not None:
        _known_person(ctx, by, "by", vacations.VacationError)
    with ctx.engine.begin() as connection:
        store.lock_state(connection)
        vacation = next((v for v in store.load_vacations(connection, ctx.rotation.id) if v.id == vacation_id), None)
        if vacation is None:
            raise vacations.VacationError("id", vacation_id, "no such vacation in the ops DB (see `techflow-ops oncall vacation "
                                          "list`; oncall.yaml's are configuration: edit the file)", "not_found")
        actor = by or vacation.person
        store.remove_vacation(connection, ctx.rotation.id, vacation_id, removed_by=actor, at=ctx.at)
        cancelled = []
        for request_id in store.vacation_request_ids(connection, vacation_id):
            request = _load_request(ctx, connection, request_id)
            if request.status in swaps.OPEN and not request.in_effect:
                _cancel_in(ctx, connection, request, actor, f"vacation #{vacation_id} removed")
                cancelled.append(_load_request(ctx, connection, request_id))
        return cancelled
