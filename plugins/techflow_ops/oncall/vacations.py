"""Vacations entered at run time (`oncall vacation add|list|remove`, the Calendar page's form):
the checks and the choice of who is asked to cover, pure (no SQL, no Airflow). `service.py` runs
them in an ops-DB transaction; `store.py` reads and writes the rows.

Per the brief, "the person on vacation swaps with the next person in rotation": a new vacation
that hits a published shift does not regenerate the schedule; it opens a swap request for each
stretch hit, to the next member after the person in `rotation.members` order (wrapping) who is
eligible for it, or to anyone eligible when nobody is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from .model import Rotation, Shift
from .swaps import SwapError, ineligible_because
from .timeline import merge


class VacationError(SwapError):
    """A refused vacation action (`field` the parameter at fault, `value` what was given)."""


@dataclass(frozen=True)
class Vacation:
    id: int | None  # None: from oncall.yaml (configuration, not removable here)
    person: str
    first_day: date
    last_day: date  # inclusive
    note: str | None = None
    source: str = "ops DB"  # ops DB | oncall.yaml
    created_by: str | None = None

    def to_json(self) -> dict:
        return {"id": self.id, "person": self.person, "start": self.first_day.isoformat(), "end": self.last_day.isoformat(),
                "note": self.note, "source": self.source, "created_by": self.created_by}


def check_days(person: str, first_day: date, last_day: date, existing: list[Vacation]) -> None:
    """Refuse an end before the start, or an overlap with another vacation of the same person."""
    if last_day < first_day:
        raise VacationError("end", last_day.isoformat(), f"vacation end before its start {first_day.isoformat()}")
    for other in existing:
        if other.person == person and other.first_day <= last_day and first_day <= other.last_day:
            where = f"vacation #{other.id}" if other.id is not None else "oncall.yaml vacations"
            raise VacationError("start", first_day.isoformat(), f"overlaps {person}'s {where} "
                                f"({other.first_day.isoformat()}..{other.last_day.isoformat()})", "conflict")


def hit_stretches(published: list[Shift], person: str, away: tuple[datetime, datetime], at: datetime) -> list[tuple[str, datetime, datetime]]:
    """(role, start, end) of `person`'s published shifts (overrides applied) inside `away`, from
    `at` on (what has begun cannot be swapped), adjoining pieces of one role merged."""
    lo, hi = max(away[0], at), away[1]
    out = []
    for role in dict.fromkeys(s.role for s in published):
        pieces = [(max(s.start, lo), min(s.end, hi)) for s in published
                  if s.person == person and s.role == role and s.start < hi and s.end > lo]
        out += [(role, a, b) for a, b in merge(pieces) if a < b]
    return sorted(out, key=lambda x: (x[1], x[0]))


def next_in_rotation(rotation: Rotation, effective: list[Shift], person: str, role: str, start: datetime,
                     end: datetime) -> str | None:
    """The first member after `person` in rotation order (wrapping) eligible for [start, end)
    (not on vacation, holding no other role then); None when nobody is."""
    members = rotation.members
    if person not in members:
        return None
    at = members.index(person)
    for step in range(1, len(members)):
        candidate = members[(at + step) % len(members)]
        if not ineligible_because(rotation, effective, candidate, role, start, end):
            return candidate
    return None


def reason(vacation_id: int, person: str, first_day: date, last_day: date, note: str | None) -> str:
    return f"vacation #{vacation_id}: {person} away {first_day.isoformat()}..{last_day.isoformat()}" + (f" ({note})" if note else "")

