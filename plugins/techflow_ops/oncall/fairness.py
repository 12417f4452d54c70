"""Fairness report: per person and role, shifts and hours by kind, and the spread of each,
for the fair schedule next to strict round-robin on the same inputs."""

from __future__ import annotations

from collections import defaultdict

from .model import Rotation, Shift
from .scheduler import ROUND_ROBIN, Measure
from .timeline import Timeline

METRICS = ("shifts", "hours", "weekend_hours", "holiday_hours", "investor_hours")


def tally(rotation: Rotation, shifts: list[Shift], timeline: Timeline) -> dict[str, dict[str, dict[str, float]]]:
    """role -> person -> metric -> value. A shift counts once per slot a person holds the role in."""
    measure = Measure(timeline)
    table = {role: {p: dict.fromkeys(METRICS, 0.0) for p in rotation.members} for role in rotation.roles}
    slots = defaultdict(set)
    for s in shifts:
        if s.role not in table:
            continue
        row = table[s.role].setdefault(s.person, dict.fromkeys(METRICS, 0.0))
        total, weekend, holiday, investor = measure([(s.start, s.end)])
        row["hours"] += total
        row["weekend_hours"] += weekend
        row["holiday_hours"] += holiday
        row["investor_hours"] += investor
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


def fairness_report(rotation: Rotation, shifts: list[Shift], timeline: Timeline, since, until) -> dict:
    """The stable JSON shape `techflow-ops oncall fairness --format json` prints (see README)."""
    baseline = ROUND_ROBIN.generate(rotation, until, since=since, timeline=timeline)
    ours, theirs = tally(rotation, shifts, timeline), tally(rotation, baseline.shifts, timeline)
    return {
        "rotation": rotation.id,
        "from": since.isoformat().replace("+00:00", "Z"),
        "until": until.isoformat().replace("+00:00", "Z"),
        "members": list(rotation.members),
        "fair": {"per_person": ours, "spread": spreads(ours)},
        "round_robin": {"per_person": theirs, "spread": spreads(theirs), "gaps": len(baseline.gaps)},
    }
