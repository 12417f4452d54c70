"""On-call schedulers: the fair generator and the strict round-robin baseline, behind `Scheduler`.

The fair generator is greedy, slot by slot, role by role, deterministic. For each role in a slot
it picks a "main" person among the members free for the whole slot (not on vacation, not holding
another role, not holding the same role the slot before), keeping the weighted burden level (only
members within a quarter of a shift's burden of the least-loaded eligible member qualify, see burden.py)
and, within that, the least load of each component (hours, business, off-hours, sleep, weekend,
own-holiday and investor hours, burden) weighted by how much of it the slot holds *for that
person*, in their own timezone and holidays. The pick is planned together with the next few slots
(a small exact assignment over the best candidates), so a heavy week late in a round still goes to
whoever has carried the least of it; only the current slot's pick is committed. Parts of the slot
the main person cannot take (a vacation inside the week) go to a substitute chosen the same way, so
whoever loses hours to a vacation makes them up later. The main person's own public holidays go to
a substitute too, someone free and not on their own holiday; when nobody is, the main person keeps
the holiday and `notes` says so. When nobody is free at all, the stretch becomes a Gap.

`previous` (the last published schedule) makes regeneration sticky: a previously published
person keeps a future slot whenever they are still eligible and within the fairness level,
so a config change moves as few shifts as fairness allows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from itertools import product
from typing import Protocol, runtime_checkable

from .burden import BURDEN, COMPONENTS, HOURS, INVESTOR, Measure, nominal_kind_hours, nominal_shift_burden
from .model import KINDS, Gap, Rotation, Shift, iso, shift_order
from .timeline import HOUR, IntervalSet, Slot, Timeline, hours, intersect, merge, subtract, vacation_sets

HOLIDAY_UNIT = 24.0  # a typical shift holds no holiday: one day is the unit for the holiday load
LEVEL_TOLERANCE = 0.25  # in shifts' burden: how far ahead of the least-loaded eligible member a pick may be
# A previously published holder keeps a slot within this, wider, margin: republishing after a
# vacation moves a few weeks, not the whole horizon.
STICKY_TOLERANCE = 0.5
JOINT_POOL = 4  # best options per role tried together when choosing a slot's main holders
COMPONENT_WEIGHT = 0.1  # relative component cost, against the squared burden lead (in shifts)
INVESTOR_LEAD_WEIGHT = 0.1  # squared investor lead (in periods), against the squared burden lead
# A slot holding most of an investor period goes to whoever has carried the fewest investor hours
# among those within this many shifts' burden of the least loaded (the extra burden is made up in
# the following weeks); without this the month-end weeks fall to the same people (issue 17).
INVESTOR_BAND = 1.0
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


def component_units(rotation: Rotation) -> list[float]:
    """How much of each component (burden.COMPONENTS) a typical shift holds: the scale on which
    one component's imbalance is weighed against another's."""
    mix = nominal_kind_hours(rotation)
    units = [0.0] * len(COMPONENTS)
    units[HOURS] = nominal_shift_hours(rotation)
    for k, kind in enumerate(KINDS, start=1):
        units[k] = max(mix[kind], HOLIDAY_UNIT if kind == "holiday" else 1.0)
    units[INVESTOR] = max(rotation.investor_business_days, 1) * 24.0  # about one investor period
    units[BURDEN] = nominal_shift_burden(rotation)
    return units


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
    # Per role and person: each burden component so far (burden.COMPONENTS).
    size = len(COMPONENTS)
    loads = {role: {p: [0.0] * size for p in members} for role in roles}
    last_main: dict[str, str | None] = {role: None for role in roles}
    first_index = 0
    if frozen:
        first_index = timeline.slot_index_at(max(s.start for s in frozen)) + 1
        by_slot: dict = defaultdict(lambda: defaultdict(float))
        for s in frozen:
            if s.role in loads and s.person in loads[s.role]:
                for k, v in enumerate(measure([(s.start, s.end)], s.person)):
                    loads[s.role][s.person][k] += v
            if s.source != "override":
                by_slot[(timeline.slot_index_at(s.start), s.role)][s.person] += s.hours
        for role in roles:
            last_main[role] = _slot_holder(by_slot, first_index - 1, role)
            # New joiners start level with the average, not at zero, so they are not handed
            # every shift until they catch up.
            veterans = [loads[role][p] for p in members if p not in joiners]
            if joiners and veterans:
                mean = [sum(v[k] for v in veterans) / len(veterans) for k in range(size)]
                for p in joiners & set(members):
                    loads[role][p] = list(mean)
    sticky_by_slot: dict = defaultdict(lambda: defaultdict(float))
    for s in previous:
        # The main holder is sticky, not whoever covered part of their slot (a holiday substitute
        # can hold more of a short investor stretch than the main person).
        if s.source != "override" and not (s.reason or "").startswith("covers "):
            sticky_by_slot[(timeline.slot_index_at(s.start), s.role)][s.person] += s.hours

    last_index = timeline.slot_index_at(until)
    if timeline.slot_start(last_index) == until:
        last_index -= 1
    slots = [timeline.slot(i) for i in range(first_index, last_index + 1)]
    units = component_units(rotation)
    unit_burden = units[BURDEN]
    inverse_sq = [1.0 / (u * u) for u in units]
    own_holidays = {p: timeline.home_calendar(p).holidays for p in members}

    shifts: list[Shift] = []
    gaps: list[Gap] = []
    notes: list[str] = []

    def component_cost(role: str, p: str, amounts) -> float:
        # Each component's load so far, weighted by how much of it the stretch would add, on the
        # component's own scale: a heavy night week goes to whoever has carried the fewest nights.
        return sum(a * h * w for a, h, w in zip(amounts, loads[role][p], inverse_sq))

    def choose_mains(slot: Slot, needs: dict, away: dict) -> dict[str, str]:
        """The slot's main holder of every role, chosen together: picking primary alone can leave
        secondary only people far ahead on burden. Each role's options are its few best members
        (free of vacation for the whole need, not its previous holder); the distinct combination
        with the least squared lead over each role's least-loaded option wins, investor-period
        lead counted alongside, component costs breaking near-ties."""
        options: dict[str, list[tuple[float, int, str]]] = {}
        for role, need in needs.items():
            if not need:
                continue
            able = [p for p in members if not intersect(need, away[p])]
            if rotation.no_back_to_back and last_main[role] in able and len(able) > 1:
                able.remove(last_main[role])
            if not able:
                continue
            load = loads[role]
            floor = min(load[p][BURDEN] for p in able)
            sticky = _slot_holder(sticky_by_slot, slot.index, role)
            if sticky in able and load[sticky][BURDEN] < floor + unit_burden * STICKY_TOLERANCE:
                options[role] = [(0.0, 0, sticky)]
                continue
            amounts_of = amounts_for(need)
            investor = amounts_of(able[0])[INVESTOR] > 0
            if amounts_of(able[0])[INVESTOR] >= units[INVESTOR] * 0.5:  # see INVESTOR_BAND
                wide = [p for p in able if load[p][BURDEN] < floor + unit_burden * INVESTOR_BAND]
                least = min(load[p][INVESTOR] for p in wide)
                able = [p for p in wide if load[p][INVESTOR] < least + units[INVESTOR] * 0.25]
                floor = min(load[p][BURDEN] for p in able)
            investor_floor = min(load[p][INVESTOR] for p in able)
            costs = {p: component_cost(role, p, amounts_of(p)) for p in able}
            least = min(costs.values())
            scored = []
            for p in able:
                lead = (load[p][BURDEN] - floor) / unit_burden
                investor_lead = (load[p][INVESTOR] - investor_floor) / units[INVESTOR] if investor else 0.0
                relative = (costs[p] - least) / least if least > 0 else 0.0
                scored.append((lead * lead + INVESTOR_LEAD_WEIGHT * investor_lead * investor_lead + COMPONENT_WEIGHT * relative,
                               (members.index(p) - slot.index) % n, p))
            options[role] = sorted(scored)[:JOINT_POOL]
        best: tuple | None = None
        for combo in product(*options.values()):
            people = [p for _, _, p in combo]
            if len(set(people)) < len(people):
                continue
            key = (round(sum(score for score, _, _ in combo), 9), [order for _, order, _ in combo])
            if best is None or key < best[0]:
                best = (key, people)
        return dict(zip(options, best[1])) if best else {}

    def pick(role: str, candidates: list[str], amounts_of, sticky: str | None, slot_index: int) -> str:
        """`amounts_of(person)`: the components this stretch holds for that person."""
        load = loads[role]
        floor = min(load[p][BURDEN] for p in candidates)
        if sticky in candidates and load[sticky][BURDEN] < floor + unit_burden * STICKY_TOLERANCE:
            return sticky
        level = [p for p in candidates if load[p][BURDEN] < floor + unit_burden * LEVEL_TOLERANCE]
        if amounts_of(candidates[0])[INVESTOR] >= units[INVESTOR] * 0.5:
            # Most of an investor period: whoever has carried the fewest investor hours takes it,
            # from a wider burden band (the period's extra burden is made up in the weeks after).
            wide = [p for p in candidates if load[p][BURDEN] < floor + unit_burden * INVESTOR_BAND]
            least = min(load[p][INVESTOR] for p in wide)
            level = [p for p in wide if load[p][INVESTOR] < least + units[INVESTOR] * 0.25]

        def cost(p: str, amounts) -> float:
            return component_cost(role, p, amounts)

        ranked = sorted(level, key=lambda p: (round(cost(p, amounts_of(p)), 6), (members.index(p) - slot_index) % n))
        # Plan this slot and the next few together (a holiday week late in a round should still
        # go to whoever has worked the fewest holidays), but commit only this slot's pick.
        pool = ranked[:LOOKAHEAD_POOL]
        window = [(amounts_of, None)] + [
            (partial(future_amounts, role, j), j) for j in range(slot_index + 1, slot_index + min(len(pool), LOOKAHEAD))
        ]
        if len(window) == 1:
            return ranked[0]
        free = [[j is None or free_for_slot(p, j) for _, j in window] for p in pool]
        # When the coming slots weigh the same as this one and everyone is free for them, the
        # best plan starts with the greedy choice: skip the search (most weeks of the year).
        if all(all(row) for row in free) and all(
                all(abs(a - b) < 1e-6 for a, b in zip(am(p), amounts_of(p))) for am, _ in window[1:] for p in pool):
            return ranked[0]
        costs = [[cost(p, am(p)) for am, _ in window] for p in pool]
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

    def future_amounts(role: str, index: int, person: str):
        key = (role, index, homes[person])  # the same for everyone living in one calendar
        if key not in future_cache:
            future_cache[key] = measure(role_need(role, slot_at(index), timeline), person)
        return future_cache[key]

    homes = {p: rotation.home(p) for p in members}

    def amounts_for(intervals):
        """`amounts_of` for `pick`: the components of `intervals`, per calendar, computed once."""
        cache: dict = {}

        def amounts_of(person: str):
            if homes[person] not in cache:
                cache[homes[person]] = measure(intervals, person)
            return cache[homes[person]]
        return amounts_of

    free_cache: dict = {}

    def free_for_slot(person: str, index: int) -> bool:
        if (person, index) not in free_cache:
            slot = slot_at(index)
            free_cache[(person, index)] = not vacations[person].overlap(slot.start, slot.end)
        return free_cache[(person, index)]

    def credit(role: str, person: str, intervals) -> None:
        if person in loads[role]:
            for k, v in enumerate(measure(intervals, person)):
                loads[role][person][k] += v

    for slot in slots:
        holds: dict[str, list] = defaultdict(list)
        away = {p: vacations[p].overlap(slot.start, slot.end) for p in members}
        festive = {p: own_holidays[p].overlap(slot.start, slot.end) for p in members}  # their own holidays
        needs = {role: role_need(role, slot, timeline) for role in roles}
        mains = choose_mains(slot, needs, away)
        for role in roles:
            need = needs[role]
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
            main = mains.get(role)
            if main not in whole:  # an earlier role's cover took them: pick among who is left
                main = pick(role, whole, amounts_for(need), sticky, slot.index)
            last_main[role] = main
            # The main person hands on what they cannot take (vacation, another role) and, when
            # someone else can, the hours of their own public holidays.
            pieces = [(a, b, main, None) for a, b in subtract(free[main], festive[main])]
            rest = merge(intersect(need, busy[main]) + intersect(free[main], festive[main]))
            if rest:
                cuts = sorted({t for p in members for iv in away[p] + holds[p] + festive[p] for t in iv}
                              | {t for iv in rest for t in iv})
                atoms = [(a, b) for lo, hi in rest for a, b in zip(cuts, cuts[1:]) if lo <= a and b <= hi and a < b]
                busy_sets = {q: IntervalSet(busy[q]) for q in members}
                substitute = None
                for position, (a, b) in enumerate(atoms):
                    main_can = not busy_sets[main].overlap(a, b)  # only their holiday keeps them off
                    able = [q for q in members if q != main and not busy_sets[q].overlap(a, b)]
                    rested = [q for q in able if not own_holidays[q].overlap(a, b)]
                    if not rested and main_can:
                        pieces.append((a, b, main, None))
                        notes.append(f"{iso(a)} .. {iso(b)}: {role} stays with {main} on their own holiday "
                                     f"({timeline.home_calendar(main).holiday_name(a)}): nobody else is free")
                        continue
                    if not able:
                        gaps.append(Gap(role, a, b, "uncovered",
                                        f"{main} is away and no other member is free (vacation or another role)"))
                        continue
                    pool = rested or able
                    if substitute not in pool:
                        # Whoever can stay longest takes over (holidays start at each person's own
                        # midnight: picking per hour would hand the role round in one-hour pieces).
                        reach = {q: _run_end(atoms, position, busy_sets[q], own_holidays[q] if rested else None)
                                 for q in pool}
                        longest = max(reach.values())
                        substitute = pick(role, [q for q in pool if reach[q] == longest], amounts_for([(a, b)]),
                                          None, slot.index)
                    if not rested:
                        notes.append(f"{iso(a)} .. {iso(b)}: {substitute} covers {role} on their own holiday "
                                     f"({timeline.home_calendar(substitute).holiday_name(a)}): nobody else is free")
                    why = "vacation" if vacations[main].overlap(a, b) else "another role" if not main_can else \
                        f"holiday: {timeline.home_calendar(main).holiday_name(a)}"
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


def _run_end(atoms: list, start: int, busy: IntervalSet, holidays: IntervalSet | None) -> datetime:
    """Where the contiguous run of `atoms` from `start` that someone (busy at `busy`, and when
    given, off on `holidays`) can cover ends."""
    end = atoms[start][0]
    for a, b in atoms[start:]:
        if a != end or busy.overlap(a, b) or (holidays is not None and holidays.overlap(a, b)):
            break
        end = b
    return end


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
