"""Levelling: exchanges of whole shifts after the greedy pass, while they make the year fairer.

The greedy generator (scheduler.py) decides slot by slot. Its last picks in a year, and the
investor weeks (which go to whoever has carried the fewest investor hours even when they are
ahead on burden), can leave someone more than a shift ahead, and a small team with three roles
in an investor week has few ways to choose. Levelling looks at the generated slots together and
applies, while one lowers the imbalance, these moves:

- **hand**: a role goes to a member who holds nothing in that slot;
- **trade**: two holders of one slot exchange their roles;
- **exchange**: the holders of one role in two slots exchange their shifts.

Only *clean* slots move: every role held whole by its main holder, nobody covering, nobody on
their own holiday, no gap, and no shift a previous publish made sticky. The new holder must be
free for the whole need (no vacation, no own public holiday, no other role in the slot) and the
no-back-to-back rule must still hold. So a move never breaks a rule the greedy pass keeps.

The imbalance of a role is, per component, the sum of squared deviations from the members' mean,
on the component's own scale (a shift's burden, an investor period's hours): variance rather than
spread, so that every step towards level counts, not only those that lower the maximum.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .burden import BURDEN, COMPONENTS, INVESTOR

MAX_SWEEPS = 25  # a sweep tries every move once; they stop as soon as one sweep finds none
CANDIDATES = 6  # members tried per hand: the least loaded on burden, and on investor hours
BURDEN_WEIGHT, INVESTOR_WEIGHT, COMPONENT_WEIGHT = 1.0, 1.0, 0.1
EPSILON = 1e-9
# What moving a published shift to someone else costs, against the imbalance: about the gain of
# taking a third of a shift's burden off someone a shift ahead. Republishing the same inputs
# moves nothing (a levelled schedule has no move that gains anything), and a new vacation moves
# the weeks it hits plus the few that even out what it moved.
MOVE_COST = 0.3

Amounts = Callable[[int, str, str], Sequence[float]]  # (slot, role, person) -> components of the role's need
Free = Callable[[int, str, str], bool]  # (slot, role, person) -> free for the whole need


@dataclass
class Levelled:
    holders: dict[tuple[int, str], str]  # (slot, role) -> holder, for the clean slots
    moves: int
    sweeps: int


def level(holders: dict[tuple[int, str], str], mains: dict[tuple[int, str], str | None], *,
          anchors: dict[tuple[int, str], str], members: Sequence[str], roles: Sequence[str], loads: dict[str, dict[str, list[float]]],
          units: Sequence[float], amounts: Amounts, free: Free, no_back_to_back: bool) -> Levelled:
    """`holders`: the movable (slot, role) holders; `mains`: every slot's main holder per role
    (movable or not, frozen history included) for the back-to-back rule; `loads`: each role's
    components per member for the whole schedule, updated in place as moves are applied;
    `anchors`: the published holder of a (slot, role), which a move away from costs MOVE_COST."""
    holders = dict(holders)
    mains = dict(mains)
    n = len(members)
    weights = [COMPONENT_WEIGHT] * len(COMPONENTS)
    weights[BURDEN], weights[INVESTOR] = BURDEN_WEIGHT, INVESTOR_WEIGHT
    scale = [w / (u * u) for w, u in zip(weights, units)]
    totals = {role: [sum(loads[role][p][k] for p in members) for k in range(len(COMPONENTS))] for role in roles}
    slots = sorted({i for i, _ in holders})
    by_slot: dict[int, dict[str, str]] = {i: {} for i in slots}
    for (i, role), person in holders.items():
        by_slot[i][role] = person

    def delta(changes: list[tuple[str, str, Sequence[float], float]], placements) -> float:
        """Change of the imbalance (and of the cost of moved published shifts) if each (role,
        person, amounts, sign) is added and the `placements` made."""
        result = 0.0
        for key, person in placements:
            anchor = anchors.get(key)
            if anchor is not None:
                result += MOVE_COST * ((person != anchor) - (holders[key] != anchor))
        per: dict[tuple[str, str], list[float]] = {}
        for role, person, values, sign in changes:
            row = per.setdefault((role, person), [0.0] * len(COMPONENTS))
            for k, v in enumerate(values):
                row[k] += sign * v
        for role in {r for r, _ in per}:
            for k, s in enumerate(scale):
                if s == 0:
                    continue
                total_change = sum(row[k] for (r, _), row in per.items() if r == role)
                squares = sum((loads[role][p][k] + row[k]) ** 2 - loads[role][p][k] ** 2
                              for (r, p), row in per.items() if r == role)
                total = totals[role][k]
                result += s * (squares - ((total + total_change) ** 2 - total * total) / n)
        return result

    def apply(changes, placements) -> None:
        for role, person, values, sign in changes:
            row = loads[role][person]
            for k, v in enumerate(values):
                row[k] += sign * v
                totals[role][k] += sign * v
        for (i, role), person in placements:
            holders[(i, role)] = person
            by_slot[i][role] = person
            mains[(i, role)] = person

    # The back-to-back rule is about the role's previous and next slots that need it (a weekend
    # slot of a weekday-only rotation is skipped), as in the greedy pass.
    needing = {role: sorted(i for i, r in mains if r == role) for role in roles}

    def rested(i: int, role: str, person: str, placements=()) -> bool:
        """The back-to-back rule for `person` in `role` at slot `i`, with `placements` applied."""
        if not no_back_to_back:
            return True
        pending = dict(placements)
        order = needing[role]
        at = bisect_left(order, i)
        for j in (order[at - 1] if at > 0 else None, order[at + 1] if at + 1 < len(order) else None):
            if j is not None and pending.get((j, role), mains.get((j, role))) == person:
                return False
        return True

    def busy(i: int, person: str) -> bool:
        return person in by_slot[i].values()

    def candidates(role: str) -> list[str]:
        load = loads[role]
        by_burden = sorted(members, key=lambda p: (load[p][BURDEN], p))
        by_investor = sorted(members, key=lambda p: (load[p][INVESTOR], p))
        return list(dict.fromkeys(by_burden[:CANDIDATES] + by_investor[:CANDIDATES]))

    moves = sweeps = 0
    while sweeps < MAX_SWEEPS:
        sweeps += 1
        moved = 0
        for i in slots:
            for role in list(by_slot[i]):
                holder = by_slot[i][role]
                for other in candidates(role):  # hand
                    if other == holder or busy(i, other) or not free(i, role, other) or not rested(i, role, other):
                        continue
                    changes = [(role, holder, amounts(i, role, holder), -1.0), (role, other, amounts(i, role, other), 1.0)]
                    if delta(changes, [((i, role), other)]) < -EPSILON:
                        apply(changes, [((i, role), other)])
                        holder, moved = other, moved + 1
            roles_here = list(by_slot[i])
            for x, first in enumerate(roles_here):  # trade
                for second in roles_here[x + 1:]:
                    a, b = by_slot[i][first], by_slot[i][second]
                    placements = [((i, first), b), ((i, second), a)]
                    if not (free(i, second, a) and free(i, first, b) and rested(i, second, a, placements)
                            and rested(i, first, b, placements)):
                        continue
                    changes = [(first, a, amounts(i, first, a), -1.0), (second, a, amounts(i, second, a), 1.0),
                               (second, b, amounts(i, second, b), -1.0), (first, b, amounts(i, first, b), 1.0)]
                    if delta(changes, placements) < -EPSILON:
                        apply(changes, placements)
                        moved += 1
        for role in roles:  # exchange
            own = [i for i in slots if role in by_slot[i]]
            for x, i in enumerate(own):
                for j in own[x + 1:]:
                    a, b = by_slot[i][role], by_slot[j][role]
                    if a == b or busy(j, a) or busy(i, b) or not free(j, role, a) or not free(i, role, b):
                        continue
                    placements = [((i, role), b), ((j, role), a)]
                    if not (rested(j, role, a, placements) and rested(i, role, b, placements)):
                        continue
                    changes = [(role, a, amounts(i, role, a), -1.0), (role, a, amounts(j, role, a), 1.0),
                               (role, b, amounts(j, role, b), -1.0), (role, b, amounts(i, role, b), 1.0)]
                    if delta(changes, placements) < -EPSILON:
                        apply(changes, placements)
                        moved += 1
        moves += moved
        if not moved:
            break
    return Levelled(holders, moves, sweeps)
