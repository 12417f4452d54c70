"""`ScheduleService`: who is on call, now or at any instant, and whom to page for a pipeline.

Built from the published schedule plus the overrides; beyond the published horizon (or when
nothing was published yet) the schedule is continued by the same deterministic scheduler
from the published history, marked `source="generated"`. Lookups bisect over per-role sorted
shifts, so `now()` does no scheduling once loaded.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .. import settings
from ..registry import ConfigError, Registry, get_registry
from ..reloading import ReloadingCache
from .config import load_oncall_config
from .model import ROLES, Gap, Handoff, OnCallConfig, OnCallNow, Shift, ShiftChange, iso, shift_order, utc
from .published import Published, read_published
from .scheduler import FAIR, Scheduler, make_timeline
from .timeline import intersect, merge, subtract, vacation_sets

EPSILON = timedelta(microseconds=1)


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


def load_schedule_service(config_dir: Path | None = None, *, now: datetime | None = None) -> ScheduleService:
    """A fresh service from the config folder (registry, rotation, overrides, published schedule)."""
    config_dir = Path(config_dir or settings.config_dir())
    registry = get_registry(config_dir)
    config = load_oncall_config(config_dir, registry)
    return ScheduleService(config, registry, read_published(config.published_file), now=now)


def check_config_dir(config_dir: Path, registry: Registry) -> None:
    """`techflow-ops config check` hook: raise ConfigError if the on-call config or the
    published schedule it points at is invalid."""
    config = load_oncall_config(Path(config_dir), registry)
    published = read_published(config.published_file)
    if published is not None and published.rotation != config.rotation.id:
        raise ConfigError.single(config.published_file, "rotation", published.rotation,
                                 f"published for another rotation than {config.rotation.id!r}; republish")


_cache: ReloadingCache[ScheduleService] = ReloadingCache()


def get_schedule_service(config_dir: Path | None = None) -> ScheduleService:
    """The service, loaded once per process and config folder; reloaded when the rotation,
    overrides or published file change on disk, or the registry it checks people against
    reloads (so a long-running escalation engine sees a new override without a restart)."""
    key = Path(config_dir or settings.config_dir()).resolve()
    registry = get_registry(key)
    return _cache.get(
        key, lambda: load_schedule_service(key),
        files=lambda service: (service.config.oncall_file, service.config.overrides_file, service.config.published_file),
        built_from=(registry,),
    )


def clear_schedule_cache() -> None:
    _cache.clear()
