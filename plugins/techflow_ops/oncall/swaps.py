"""Swaps and takes: the state machine and the checks, pure (no SQL, no Airflow). `service.py`
runs them inside an ops-DB transaction and `store.py` reads and writes the rows.

A **swap** request: `requester` hands a stretch of their own shift (the whole shift or part of
it) to a named colleague (`counterpart`) or to "anyone eligible" (`counterpart` None). Whoever
accepts may give back a stretch of their own shift in the same role (`give_back`): then the swap
goes both ways (two overrides); without one the acceptor covers the stretch and nothing comes
back (one override). A **take**: `requester` covers `counterpart`'s stretch outright (one
override), no consent asked.

    requested --accept--> accepted --approve (lead)--> approved      (in effect)
        |                     |   (rules.swap_approval none: in effect on accept)
        +--decline----------> declined  (the counterpart, or the lead refusing an accepted one)
        +--cancel-----------> cancelled (the requester, before it is in effect)

A take starts `accepted` (in effect at once) or, with `swap_approval: lead`, waits there for the
lead. What is in effect is a set of overrides, so every process sees it through the state version.

Eligible (for "anyone", a named colleague and whoever a swap or take hands a stretch to): a rotation
member, not on vacation during the stretch, holding no other role during it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .model import Override, Rotation, Shift, iso
from .timeline import merge, subtract

SWAP, TAKE = "swap", "take"
OPEN = ("requested", "accepted")  # not decided yet
ANYONE = "anyone"


class SwapError(ValueError):
    """A refused swap action. `field` is the parameter at fault (the CLI shows it as its flag:
    `by` -> `--by`), `value` what was given; `kind` tells the web app which status to answer:
    not_found (404), conflict (409: already decided, past, not in a state for it), invalid (400),
    forbidden (403: the acting person may not do this)."""

    def __init__(self, field: str, value, message: str, kind: str = "invalid"):
        super().__init__(f"{field} {value!r}: {message}")
        self.field, self.value, self.message, self.kind = field, value, message, kind


@dataclass(frozen=True)
class Stretch:
    person: str
    role: str
    start: datetime
    end: datetime

    def describe(self) -> str:
        return f"{self.role} {iso(self.start)} .. {iso(self.end)}"


@dataclass(frozen=True)
class SwapEvent:
    action: str  # requested | accepted | declined | approved | cancelled | applied
    at: datetime
    actor: str
    role: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    from_person: str | None = None
    to_person: str | None = None
    override_id: str | None = None
    note: str | None = None

    def to_json(self) -> dict:
        return {"action": self.action, "at": iso(self.at), "actor": self.actor, "role": self.role, "start": iso(self.start),
                "end": iso(self.end), "from": self.from_person, "to": self.to_person, "override_id": self.override_id,
                "note": self.note}


@dataclass(frozen=True)
class SwapRequest:
    id: int
    rotation: str
    kind: str  # swap | take
    requester: str
    role: str
    start: datetime
    end: datetime
    counterpart: str | None
    status: str
    reason: str | None
    accepted_by: str | None
    decided_by: str | None
    requested_at: datetime
    accepted_at: datetime | None
    decided_at: datetime | None
    updated_at: datetime
    events: tuple[SwapEvent, ...] = field(default=())

    @property
    def in_effect(self) -> bool:
        return any(e.action == "applied" for e in self.events)

    @property
    def give_back(self) -> Stretch | None:
        """What the acceptor of a swap gives back (named on the `accepted` event), if anything."""
        accepted = next((e for e in self.events if e.action == "accepted" and e.start is not None), None)
        if accepted is None:
            return None
        return Stretch(accepted.from_person, accepted.role, accepted.start, accepted.end)

    @property
    def holder(self) -> str:
        """Whose stretch moves: the requester's for a swap, the counterpart's for a take."""
        return self.counterpart if self.kind == TAKE else self.requester

    @property
    def cover(self) -> str | None:
        """Who ends up holding the stretch: the acceptor of a swap, the requester of a take."""
        return self.requester if self.kind == TAKE else self.accepted_by

    def awaiting(self, approval: str, lead: str | None) -> str:
        """In words: what the request waits for."""
        if self.status == "requested":
            return f"an answer from {self.counterpart or 'anyone eligible'}"
        if self.status == "accepted" and not self.in_effect:
            return f"approval by the team lead {lead}" if approval == "lead" else "being put in effect"
        return "nothing (in effect)" if self.in_effect else "nothing"

    def to_json(self) -> dict:
        give = self.give_back
        return {"id": self.id, "kind": self.kind, "requester": self.requester, "counterpart": self.counterpart or ANYONE,
                "role": self.role, "start": iso(self.start), "end": iso(self.end), "status": self.status,
                "in_effect": self.in_effect, "reason": self.reason, "accepted_by": self.accepted_by,
                "decided_by": self.decided_by, "give_back": {"start": iso(give.start), "end": iso(give.end)} if give else None,
                "requested_at": iso(self.requested_at), "accepted_at": iso(self.accepted_at), "decided_at": iso(self.decided_at),
                "updated_at": iso(self.updated_at), "events": [e.to_json() for e in self.events]}


# --- checks on the effective schedule (overrides applied) ---------------------------------

def shift_containing(shifts: list[Shift], person: str, role: str, at: datetime) -> Shift | None:
    return next((s for s in shifts if s.person == person and s.role == role and s.start <= at < s.end), None)


def holds(shifts: list[Shift], person: str, role: str, start: datetime, end: datetime) -> bool:
    """`person` holds `role` through all of [start, end) (across adjoining pieces too)."""
    held = merge((s.start, s.end) for s in shifts if s.person == person and s.role == role and s.start < end and s.end > start)
    return not subtract([(start, end)], held)


def ineligible_because(rotation: Rotation, shifts: list[Shift], person: str, role: str, start: datetime,
                       end: datetime) -> str | None:
    """Why `person` cannot hold `role` over [start, end); None when they can."""
    if person not in rotation.members:
        return f"not a member of rotation {rotation.id!r}"
    for a, b in rotation.vacations.get(person, ()):
        if a < end and b > start:
            return f"on vacation {iso(a)} .. {iso(b)}"
    other = next((s for s in shifts if s.person == person and s.role != role and s.start < end and s.end > start), None)
    if other is not None:
        return f"holds {other.role} then ({iso(other.start)} .. {iso(other.end)})"
    if holds(shifts, person, role, start, end):
        return f"already holds {role} then"
    return None


def stretch_of(shifts: list[Shift], person: str, role: str, start: datetime, end: datetime | None, *, field: str,
               at: datetime) -> Stretch:
    """The stretch [start, end) of `person`'s `role` shift that a request names; `end` None means
    to the end of the shift containing `start`. Refused when past, or not all theirs."""
    shift = shift_containing(shifts, person, role, start)
    if shift is None:
        raise SwapError(field, iso(start), f"{person} holds no {role} shift at that instant", "invalid")
    end = end or shift.end
    if end <= start:
        raise SwapError("end", iso(end), f"must be after the start {iso(start)}")
    if start < at:
        raise SwapError(field, iso(start), f"already past or begun (now {iso(at)}); swap from now on, e.g. --start {iso(at)}",
                        "conflict")
    if not holds(shifts, person, role, start, end):
        raise SwapError("end", iso(end), f"{person} does not hold {role} all through {iso(start)} .. {iso(end)}")
    return Stretch(person, role, start, end)


def overrides_for(request: SwapRequest, cover: str, give_back: Stretch | None) -> list[tuple[Override, Stretch]]:
    """The overrides a request amounts to, each with the stretch it moves (from -> to person)."""
    out = [(Override(f"swap-{request.id}", cover, request.role, request.start, request.end,
                     f"{request.kind} #{request.id}: covers {request.holder}"),
            Stretch(request.holder, request.role, request.start, request.end))]
    if give_back is not None:
        out.append((Override(f"swap-{request.id}-back", request.requester, give_back.role, give_back.start, give_back.end,
                             f"swap #{request.id}: given back by {give_back.person}"), give_back))
    return out
