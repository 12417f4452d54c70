"""Fairness report: per person and role, shifts, hours of each kind in the person's own calendar,
investor hours and the weighted burden (see burden.py), with the spread (max - min) and the Gini
coefficient of each, for the fair schedule next to strict round-robin on the same inputs."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from .burden import BURDEN, COMPONENTS, Measure, nominal_shift_burden
from .model import Rotation, Shift, iso
from .scheduler import ROUND_ROBIN, nominal_shift_hours
from .timeline import Timeline

# Report metric -> burden component; `shifts` is counted, not measured.
COMPONENT_METRICS = {
    "hours": "hours", "business_hours": "business", "off_hours": "off_hours", "sleep_hours": "sleep",
    "weekend_hours": "weekend", "holiday_hours": "holiday", "investor_hours": "investor", "burden": "burden",
}
METRICS = ("shifts", *COMPONENT_METRICS)


def tally(rotation: Rotation, shifts: list[Shift], timeline: Timeline) -> dict[str, dict[str, dict[str, float]]]:
    """role -> person -> metric -> value, each hour in its holder's own calendar. A shift counts
    once per slot a person holds the role in as its main holder (covering part of someone else's
    slot adds hours, not a shift)."""
    measure = Measure(timeline)
    index = {component: COMPONENTS.index(component) for component in COMPONENT_METRICS.values()}
    table = {role: {p: dict.fromkeys(METRICS, 0.0) for p in rotation.members} for role in rotation.roles}
    slots = defaultdict(set)
    for s in shifts:
        if s.role not in table:
            continue
        row = table[s.role].setdefault(s.person, dict.fromkeys(METRICS, 0.0))
        measured = measure([(s.start, s.end)], s.person)
        for metric, component in COMPONENT_METRICS.items():
            row[metric] += measured[index[component]]
        if not (s.reason or "").startswith("covers "):  # a cover's hours count, not as a shift of theirs
            slots[(s.role, s.person)].add(timeline.slot_index_at(s.start))
    for (role, person), indexes in slots.items():
        table[role][person]["shifts"] = float(len(indexes))
    for role_rows in table.values():
        for row in role_rows.values():
            for metric in METRICS:
                row[metric] = round(row[metric], 2)
    return table


def spreads(table: dict) -> dict[str, dict[str, float]]:
    """role -> metric -> max - min over the rotation's members."""
    return {
        role: {m: round(max(r[m] for r in rows.values()) - min(r[m] for r in rows.values()), 2) for m in METRICS}
        for role, rows in table.items() if rows
    }


def gini(values) -> float:
    """Gini coefficient: 0 when everyone carries the same, towards 1 when one person carries all
    (mean absolute difference over all ordered pairs / twice the mean)."""
    values = sorted(values)
    n, total = len(values), sum(values)
    if n == 0 or total <= 0:
        return 0.0
    # sum_{i<j} (x_j - x_i) over sorted values, in one pass
    weighted = sum((2 * i - n + 1) * x for i, x in enumerate(values))
    return weighted / (n * total)


def ginis(table: dict) -> dict[str, dict[str, float]]:
    """role -> metric -> Gini coefficient over the rotation's members."""
    return {role: {m: round(gini(r[m] for r in rows.values()), 4) for m in METRICS} for role, rows in table.items() if rows}


def investor_period_hours(timeline: Timeline, since, until) -> list[float]:
    """Hours of each investor period that starts and ends inside [since, until)."""
    return [(b - a).total_seconds() / 3600 for a, b in timeline.investor.overlap(since, until)
            if a > since and b < until]


def heaviest_shift_burden(rotation: Rotation, timeline: Timeline, since, until) -> float:
    """The most weighted burden one person can carry in one slot of [since, until) (primary's
    coverage, any member's calendar): how far a single shift moves the spread."""
    measure = Measure(timeline)
    first, last = timeline.slot_index_at(since), timeline.slot_index_at(until - timedelta(microseconds=1))
    homes = {rotation.home(p): p for p in rotation.members}  # one person per calendar is enough
    heaviest = 0.0
    for index in range(first, last + 1):
        cover = timeline.slot(index).coverage
        heaviest = max(heaviest, *(measure(list(cover), person)[BURDEN] for person in homes.values()))
    return heaviest


def fairness_report(rotation: Rotation, shifts: list[Shift], timeline: Timeline, since, until,
                    notes: list[str] | None = None) -> dict:
    """The stable JSON shape `techflow-ops oncall fairness --format json` prints (see README)."""
    baseline = ROUND_ROBIN.generate(rotation, until, since=since, timeline=timeline)
    ours, theirs = tally(rotation, shifts, timeline), tally(rotation, baseline.shifts, timeline)
    periods = investor_period_hours(timeline, since, until)
    return {
        "rotation": rotation.id,
        "from": since.isoformat().replace("+00:00", "Z"),
        "until": until.isoformat().replace("+00:00", "Z"),
        "members": list(rotation.members),
        "weights": rotation.weights.as_dict(),
        "units": {  # what "one shift" and "one investor period" mean for the spreads
            "shift_hours": round(nominal_shift_hours(rotation), 2),
            "shift_burden": round(nominal_shift_burden(rotation), 2),  # a plain shift: no holiday, no investor hour
            "heaviest_shift_burden": round(heaviest_shift_burden(rotation, timeline, since, until), 2),
            "investor_period_hours": {"shortest": round(min(periods), 2), "longest": round(max(periods), 2)} if periods else None,
        },
        "fair": {"per_person": ours, "spread": spreads(ours), "gini": ginis(ours)},
        "round_robin": {"per_person": theirs, "spread": spreads(theirs), "gini": ginis(theirs), "gaps": len(baseline.gaps)},
        "notes": list(notes or []),
    }


def window_shifts(service, since, until) -> tuple[list[Shift], Timeline, list[str]]:
    """The schedule's effective shifts in [since, until) for a fairness report (overrides, swaps
    and takes applied: an hour counts against the person who served it), the timeline to measure
    them on, and notes saying where they come from. Past the service's horizon the schedule is
    continued with the same fair generator, from everything known."""
    from .scheduler import FAIR, make_timeline

    notes: list[str] = []
    if since < service.covered_from:
        notes.append(f"the rotation starts {iso(service.covered_from)}: counted from there")
    shifts = service.shifts(since, until)
    timeline = service.timeline
    if until > service.covered_until:
        timeline = make_timeline(service.rotation, until + service.rotation.shift_length, service.covered_from)
        more = FAIR.generate(service.rotation, until, frozen=service.base_shifts, timeline=timeline)
        shifts += [Shift(s.person, s.role, s.start, s.end, "generated", s.reason) for s in more.shifts if s.start < until]
        notes.append(f"published/known schedule ends {iso(service.covered_until)}; "
                     f"{iso(service.covered_until)} .. {iso(until)} generated by the fair generator (not published)")
    return shifts, timeline, notes
