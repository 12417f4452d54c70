"""On-call schedulers: the fair generator and the strict round-robin baseline, behind `Scheduler`.

The fair generator is greedy, slot by slot, role by role, deterministic. For each role in a slot
it picks a "main" person among the members free for the whole slot (not on vacation, not holding
another role, not holding the same role the slot before), keeping on-call hours level (only
members within half a shift of the least-loaded eligible member qualify) and, within that, the
least weekend, public-holiday and investor-period load weighted by how much of each the slot
contains. The pick is planned together with the next few slots (a small exact assignment over
the best candidates), so a holiday week late in a round still goes to whoever has worked the
fewest holidays; only the current slot's pick is committed. Parts of the slot the main person
cannot take (a vacation inside the week) go to a substitute chosen the same way, so whoever
loses hours to a vacation makes them up later. When nobody is free, the stretch becomes a Gap.

`previous` (the last published schedule) makes regeneration sticky: a previously published
person keeps a future slot whenever they are still eligible and within the fairness level,
so a config change moves as few shifts as fairness allows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from .model import Gap, Rotation, Shift, shift_order
from .timeline import HOUR, IntervalSet, Slot, Timeline, hours, intersect, merge, subtract, vacation_sets

WEEKEND_UNIT, HOLIDAY_UNIT = 48.0, 24.0
LEVEL_TOLERANCE = 0.5  # in shifts: how far ahead of the least-loaded eligible member a pick may be
LOOKAHEAD = 4  # slots planned together (a round of a 4-person rotation), one committed at a time
LOOKAHEAD_POOL = 5  # best-ranked candidates considered for the plan


@dataclass
class GeneratedSchedule:
    shifts: list[Shift]
    gaps: list[Gap]
    notes: list[str] = field(default_factory=list)  # rules relaxed, and why


@runtime_checkable
class Scheduler(Protocol):
    """Turns a rotation into shifts; publishing, the service and the fairness report code against it."""

    name: str

    def generate(
        self,
        rotation: Rotation,
        until: datetime,
        *,
        since: datetime | None = None,
        frozen: Sequence[Shift] = (),
        previous: Sequence[Shift] = (),
        joiners: frozenset[str] = frozenset(),
        timeline: Timeline | None = None,
    ) -> GeneratedSchedule:
        """Shifts (and gaps) for the slots from the one holding `since` to the last one starting before `until`.

        Without `since`, from the slot after the last `frozen` shift (or the rotation's first slot).
        `frozen` shifts are history, never returned; `previous` is the last published future,
        `joiners` the members added since `frozen` was published.
        """
        ...


class Measure:
    """How many hours of an interval list fall on weekends, holidays and investor periods."""

    def __init__(self, timeline: Timeline):
        self.timeline = timeline

    def __call__(self, intervals) -> tuple[float, float, float, float]:
        t = self.timeline
        total = weekend = holiday = investor = 0.0
        for a, b in intervals:
            total += (b - a).total_seconds() / HOUR
            weekend += t.weekends.overlap_hours(a, b)
            holiday += t.holidays.overlap_hours(a, b)
            investor += t.investor.overlap_hours(a, b)
        return total, weekend, holiday, investor


def make_timeline(rotation: Rotation, until: datetime, since: datetime | None = None) -> Timeline:
    first = min(rotation.start.year, since.year if since else rotation.start.year) - 1
    return Timeline(rotation, first, until.year + 1)


def nominal_shift_hours(rotation: Rotation) -> float:
    """Covered hours in a typical shift: the fairness unit, independent of any date range."""
    if rotation.coverage_days is None and rotation.coverage_start.hour == 0 and rotation.coverage_start.minute == 0 \
            and rotation.coverage_end is None:
        return rotation.shift_length.total_seconds() / HOUR
    days = len(rotation.coverage_days) if rotation.coverage_days is not None else 7
    end = 24.0 if rotation.coverage_end is None else rotation.coverage_end.hour + rotation.coverage_end.minute / 60
    daily = end - (rotation.coverage_start.hour + rotation.coverage_start.minute / 60)
    return max(days * daily * rotation.shift_length.total_seconds() / (7 * 86400 * 1.0), 1.0)


def role_need(role: str, slot: Slot, timeline: Timeline) -> list:
    if role == "investor_watch":
        return [piece for a, b in slot.coverage for piece in timeline.investor.overlap(a, b)]
    return list(slot.coverage)


def _slot_holder(shifts_by_slot: dict, index: int, role: str) -> str | None:
    per_person = shifts_by_slot.get((index, role))
    if not per_person:
        return None
    return max(sorted(per_person), key=lambda p: per_person[p])


def generate(
    rotation: Rotation,
    until: datetime,
    *,
    frozen: Sequence[Shift] = (),
    previous: Sequence[Shift] = (),
    joiners: frozenset[str] = frozenset(),
    timeline: Timeline | None = None,
) -> GeneratedSchedule:
    """Shifts (source "schedule") from the slot after the last frozen one through the slot holding `until`.

    `frozen` shifts are history: they are not returned, but count towards everyone's load.
    `joiners` are members who were not in the rotation when `frozen` was published.
    """
    timeline = timeline or make_timeline(rotation, until)
    measure = Measure(timeline)
    vacations = vacation_sets(rotation)
    members = rotation.members
    n = len(members)
    roles = rotation.roles
    # Per role and person: on-call, weekend, public-holiday and investor-period hours so far.
    loads = {role: {p: [0.0, 0.0, 0.0, 0.0] for p in members} for role in roles}
    last_main: dict[str, str | None] = {role: None for role in roles}
    first_index = 0
    if frozen:
        first_index = timeline.slot_index_at(max(s.start for s in frozen)) + 1
        by_slot: dict = defaultdict(lambda: defaultdict(float))
        for s in frozen:
            if s.role in loads and s.person in loads[s.role]:
                for k, v in enumerate(measure([(s.start, s.end)])):
                    loads[s.role][s.person][k] += v
            if s.source != "override":
                by_slot[(timeline.slot_index_at(s.start), s.role)][s.person] += s.hours
        for role in roles:
            last_main[role] = _slot_holder(by_slot, first_index - 1, role)
            # New joiners start level with the average, not at zero, so they are not handed
            # every shift until they catch up.
            veterans = [loads[role][p] for p in members if p not in joiners]
            if joiners and veterans:
                mean = [sum(v[k] for v in veterans) / len(veterans) for k in range(4)]
                for p in joiners & set(members):
                    loads[role][p] = list(mean)
    sticky_by_slot: dict = defaultdict(lambda: defaultdict(float))
    for s in previous:
        if s.source != "override":
            sticky_by_slot[(timeline.slot_index_at(s.start), s.role)][s.person] += s.hours

    last_index = timeline.slot_index_at(until)
    if timeline.slot_start(last_index) == until:
        last_index -= 1
    slots = [timeline.slot(i) for i in range(first_index, last_index + 1)]
    unit = nominal_shift_hours(rotation)
    unit_sq, weekend_sq, holiday_sq = unit * unit, WEEKEND_UNIT * WEEKEND_UNIT, HOLIDAY_UNIT * HOLIDAY_UNIT

    shifts: list[Shift] = []
    gaps: list[Gap] = []
    notes: list[str] = []

    def pick(role: str, candidates: list[str], amounts, sticky: str | None, slot_index: int) -> str:
        load = loads[role]
        floor = min(load[p][0] for p in candidates)
        level = [p for p in candidates if load[p][0] < floor + unit * LEVEL_TOLERANCE]
        if sticky in level:
            return sticky

        def cost(p: str, amounts) -> float:
            held = load[p]
            return (amounts[0] * held[0] / unit_sq + amounts[1] * held[1] / weekend_sq
                    + amounts[2] * held[2] / holiday_sq + amounts[3] * held[3] / unit_sq)

        ranked = sorted(level, key=lambda p: (round(cost(p, amounts), 6), (members.index(p) - slot_index) % n))
        # Plan this slot and the next few together (a holiday week late in a round should still
        # go to whoever has worked the fewest holidays), but commit only this slot's pick.
        pool = ranked[:LOOKAHEAD_POOL]
        window = [(amounts, None)] + [
            (future_amounts(role, j), j) for j in range(slot_index + 1, slot_index + min(len(pool), LOOKAHEAD))
        ]
        if len(window) == 1:
            return ranked[0]
        free = [[j is None or free_for_slot(p, j) for _, j in window] for p in pool]
        # When the coming slots weigh the same as this one and everyone is free for them, the
        # best plan starts with the greedy choice: skip the search (most weeks of the year).
        if all(all(row) for row in free) and all(
                all(abs(a - b) < 1e-6 for a, b in zip(am, amounts)) for am, _ in window[1:]):
            return ranked[0]
        costs = [[cost(p, am) for am, _ in window] for p in pool]
        # Exact assignment of window slots to distinct pool members, by dynamic programming
        # over the set of members used so far: state -> (total cost, member picked for now).
        plans: dict[int, tuple[float, int]] = {0: (0.0, -1)}
        for slot in range(len(window)):
            extended: dict[int, tuple[float, int]] = {}
            for used, (total, first) in plans.items():
                for i in range(len(pool)):
                    if used >> i & 1 or not free[i][slot]:
                        continue
                    state, value = used | 1 << i, total + costs[i][slot]
                    if state not in extended or value < extended[state][0] - 1e-9:
                        extended[state] = (value, i if first < 0 else first)
            plans = extended
        if not plans:
            return ranked[0]
        return pool[min(plans.values(), key=lambda plan: (round(plan[0], 9), plan[1]))[1]]

    # Look-ahead may peek past `until`, so a pick never depends on where generation stops
    # (publishing again later reproduces the same schedule).
    slot_cache: dict[int, Slot] = {s.index: s for s in slots}
    future_cache: dict = {}

    def slot_at(index: int) -> Slot:
        if index not in slot_cache:
            slot_cache[index] = timeline.slot(index)
        return slot_cache[index]

    def future_amounts(role: str, index: int):
        if (role, index) not in future_cache:
            future_cache[(role, index)] = measure(role_need(role, slot_at(index), timeline))
        return future_cache[(role, index)]

    free_cache: dict = {}

    def free_for_slot(person: str, index: int) -> bool:
        if (person, index) not in free_cache:
            slot = slot_at(index)
            free_cache[(person, index)] = not vacations[person].overlap(slot.start, slot.end)
        return free_cache[(person, index)]

    def credit(role: str, person: str, intervals) -> None:
        if person in loads[role]:
            for k, v in enumerate(measure(intervals)):
                loads[role][person][k] += v

    for slot in slots:
        holds: dict[str, list] = defaultdict(list)
        away = {p: vacations[p].overlap(slot.start, slot.end) for p in members}
        for role in roles:
            need = role_need(role, slot, timeline)
            if not need:
                continue
            need_hours = hours(need)
            busy = {p: merge(away[p] + holds[p]) for p in members}
            free = {p: subtract(need, busy[p]) for p in members}
            candidates = [p for p in members if free[p]]
            if rotation.no_back_to_back and last_main[role] in candidates and len(candidates) > 1:
                candidates.remove(last_main[role])
            elif rotation.no_back_to_back and last_main[role] in candidates:
                notes.append(f"slot {timeline.slot_start(slot.index).isoformat()}: {role} given to "
                             f"{last_main[role]} twice running: nobody else was free")
            if not candidates:
                gaps += [Gap(role, a, b, "uncovered", "no rotation member is free (vacation or another role)")
                         for a, b in need]
                last_main[role] = None
                continue
            whole = [p for p in candidates if abs(hours(free[p]) - need_hours) < 1e-9] or candidates
            sticky = _slot_holder(sticky_by_slot, slot.index, role)
            main = pick(role, whole, measure(need), sticky, slot.index)
            last_main[role] = main
            pieces = [(a, b, main, None) for a, b in free[main]]
            rest = intersect(need, busy[main])
            if rest:
                cuts = sorted({t for p in members for iv in away[p] + holds[p] for t in iv} | {t for iv in rest for t in iv})
                atoms = [(a, b) for lo, hi in rest for a, b in zip(cuts, cuts[1:]) if lo <= a and b <= hi and a < b]
                substitute = None
                for a, b in atoms:
                    able = [q for q in members if q != main and not IntervalSet(busy[q]).overlap(a, b)]
                    if not able:
                        gaps.append(Gap(role, a, b, "uncovered",
                                        f"{main} is away and no other member is free (vacation or another role)"))
                        continue
                    if substitute not in able:
                        substitute = pick(role, able, measure([(a, b)]), None, slot.index)
                    why = "vacation" if vacations[main].overlap(a, b) else "another role"
                    pieces.append((a, b, substitute, f"covers {main} ({why})"))
            pieces.sort(key=lambda piece: piece[0])
            merged: list[list] = []
            for a, b, person, reason in pieces:
                if merged and merged[-1][2] == person and merged[-1][1] == a and merged[-1][3] == reason:
                    merged[-1][1] = b
                else:
                    merged.append([a, b, person, reason])
            for a, b, person, reason in merged:
                shifts.append(Shift(person, role, a, b, "schedule", reason))
                holds[person].append((a, b))
                credit(role, person, [(a, b)])
    shifts.sort(key=shift_order)
    return GeneratedSchedule(shifts, gaps, notes)


def round_robin(rotation: Rotation, since: datetime, until: datetime, timeline: Timeline | None = None) -> GeneratedSchedule:
    """Strict round-robin by slot number, the baseline: slot i goes to member i mod n (then i+1, i+2
    for the other roles); someone on vacation swaps with the next in rotation order."""
    timeline = timeline or make_timeline(rotation, until, since)
    vacations = vacation_sets(rotation)
    members = rotation.members
    n = len(members)
    shifts: list[Shift] = []
    gaps: list[Gap] = []
    first, last = timeline.slot_index_at(since), timeline.slot_index_at(until)
    if timeline.slot_start(last) == until:
        last -= 1
    for index in range(first, last + 1):
        slot = timeline.slot(index)
        taken: set[str] = set()
        position = index % n
        for role in rotation.roles:
            need = role_need(role, slot, timeline)
            if not need:
                continue
            person = None
            for step in range(n):
                candidate = members[(position + step) % n]
                if candidate not in taken and not vacations[candidate].overlap(need[0][0], need[-1][1]):
                    person, position = candidate, (position + step + 1) % n
                    break
            if person is None:
                gaps += [Gap(role, a, b, "uncovered", "everyone is away or busy") for a, b in need]
                continue
            taken.add(person)
            shifts += [Shift(person, role, a, b, "round_robin") for a, b in need]
    return GeneratedSchedule(shifts, gaps)


def _first_slot_start(timeline: Timeline, since: datetime | None, frozen: Sequence[Shift]) -> datetime:
    if since is not None:
        return timeline.slot_start(timeline.slot_index_at(since))
    if frozen:
        return timeline.slot_start(timeline.slot_index_at(max(s.start for s in frozen)) + 1)
    return timeline.epoch


class FairScheduler:
    """The fair generator (`generate`). With `since`, loads still count from the rotation's start
    (or `frozen`): the result is that schedule seen from `since`."""

    name = "fair"

    def generate(self, rotation: Rotation, until: datetime, *, since: datetime | None = None,
                 frozen: Sequence[Shift] = (), previous: Sequence[Shift] = (),
                 joiners: frozenset[str] = frozenset(), timeline: Timeline | None = None) -> GeneratedSchedule:
        timeline = timeline or make_timeline(rotation, until, since)
        schedule = generate(rotation, until, frozen=frozen, previous=previous, joiners=joiners, timeline=timeline)
        if since is None:
            return schedule
        start = _first_slot_start(timeline, since, frozen)
        return GeneratedSchedule([s for s in schedule.shifts if s.start >= start],
                                 [g for g in schedule.gaps if g.start >= start], schedule.notes)


class RoundRobinScheduler:
    """The baseline (`round_robin`): by slot number only, so `previous` and `joiners` play no part."""

    name = "round_robin"

    def generate(self, rotation: Rotation, until: datetime, *, since: datetime | None = None,
                 frozen: Sequence[Shift] = (), previous: Sequence[Shift] = (),
                 joiners: frozenset[str] = frozenset(), timeline: Timeline | None = None) -> GeneratedSchedule:
        timeline = timeline or make_timeline(rotation, until, since)
        return round_robin(rotation, _first_slot_start(timeline, since, frozen), until, timeline)


FAIR: Scheduler = FairScheduler()
ROUND_ROBIN: Scheduler = RoundRobinScheduler()
