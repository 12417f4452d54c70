"""The Calendar page's swap panel and its buttons: who the logged-in Airflow user is on the
rotation, what they may ask or answer, and each action through the on-call service's API (the
same functions the CLI calls). No Airflow import: app.py checks permission and CSRF first."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from ..oncall import get_schedule_service
from ..oncall import service as oncall_service
from ..oncall.model import iso
from ..oncall.swaps import ANYONE, OPEN, SwapError, ineligible_because
from ..registry import Registry, get_registry
from .views import BadRequest, Conflict, NotFound

SWAP_ACTIONS = ("request", "take", "accept", "decline", "approve", "cancel")
RECENT_DECIDED = 10  # decided requests shown under the open ones (the rest: `oncall swap list`)


class Forbidden(PermissionError):
    """The user may not act on the rotation (answered as 403)."""


def acting_person(user, registry: Registry | None = None) -> str:
    """The people.yaml person a logged-in Airflow user is: the user name as a person id, else the
    user name or the user's email (FAB users have one) as a person's email, case-insensitively."""
    registry = registry or get_registry()
    name = str(user.get_name() or "")
    if name in registry.people:
        return name
    emails = {e.lower() for e in (name, getattr(user, "email", None) or "") if e}
    for person in registry.people.values():
        if person.email.lower() in emails:
            return person.id
    raise Forbidden(f"Airflow user {name!r} is no person in people.yaml (matched by id or email): "
                    "they cannot swap or take on-call shifts")


def _parse_instant(field: str, text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{field}={text[:60]!r}: not an ISO 8601 date-time (e.g. 2027-01-13T15:00:00Z)") from None
    if value.tzinfo is None:
        raise BadRequest(f"{field}={text[:60]!r}: has no UTC offset; add 'Z' or e.g. '-05:00'")
    return value.astimezone(timezone.utc)


def _request_id(text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError:
        raise BadRequest(f"id={str(text)[:40]!r}: not a swap request id") from None


def swap_action(action: str, person: str, form: dict) -> dict:
    """Run one action as `person` with the form's fields; the request as JSON. A refusal becomes
    BadRequest (400), NotFound (404), Conflict (409) or Forbidden (403), naming field and value."""
    if action not in SWAP_ACTIONS:
        raise NotFound(f"unknown swap action {action!r} (one of {', '.join(SWAP_ACTIONS)})")
    get = form.get
    if action in ("request", "take") and not get("start"):
        raise BadRequest("start: missing (an instant inside the shift, ISO 8601)")
    try:
        if action == "request":
            done = oncall_service.request_swap(None, by=person, role=get("role") or "", start=_parse_instant("start", get("start")),
                                               end=_parse_instant("end", get("end")), with_person=get("with") or ANYONE,
                                               reason=get("reason") or None)
        elif action == "take":
            done = oncall_service.take_shift(None, by=person, holder=get("from") or "", role=get("role") or "",
                                             start=_parse_instant("start", get("start")), end=_parse_instant("end", get("end")),
                                             reason=get("reason") or None)
        elif action == "accept":
            done = oncall_service.accept_swap(None, _request_id(get("id")), by=person,
                                              give_back_start=_parse_instant("give_back", get("give_back")))
        elif action == "decline":
            done = oncall_service.decline_swap(None, _request_id(get("id")), by=person, reason=get("reason") or None)
        else:
            done = {"approve": oncall_service.approve_swap, "cancel": oncall_service.cancel_swap}[action](
                None, _request_id(get("id")), by=person)
    except SwapError as exc:
        error = {"not_found": NotFound, "conflict": Conflict, "forbidden": Forbidden}.get(exc.kind, BadRequest)
        raise error(f"{exc.field}={exc.value!r}: {exc.message}") from None
    return done.to_json()


def swap_panel(person: str | None, start: datetime, end: datetime) -> dict:
    """What the panel shows `person` for [start, end): their future shifts (a request button each),
    colleagues' future shifts they are eligible to take, and requests with the buttons open to them."""
    registry = get_registry()
    service = get_schedule_service()
    rotation = service.rotation
    now = datetime.now(timezone.utc)
    lead = registry.teams[rotation.team].lead if rotation.team in registry.teams else None

    def name(person_id: str | None) -> str:
        return registry.people[person_id].name if person_id in registry.people else (person_id or "anyone eligible")

    shifts = [s for s in service.shifts(max(start, now), end) if s.start > now and s.role in rotation.roles]
    mine = [{"role": s.role, "start": iso(s.start), "end": iso(s.end), "source": s.source,
             "colleagues": [{"id": p, "name": name(p)} for p in rotation.members
                            if p != person and not ineligible_because(rotation, service.effective, p, s.role, s.start, s.end)]}
            for s in shifts if s.person == person]
    takeable = [{"role": s.role, "start": iso(s.start), "end": iso(s.end), "holder": s.person, "holder_name": name(s.person)}
                for s in shifts if person and s.person != person
                and not ineligible_because(rotation, service.effective, person, s.role, s.start, s.end)]
    everything = oncall_service.list_swaps()
    shown = [r for r in everything if r.status in OPEN] + [r for r in everything if r.status not in OPEN][:RECENT_DECIDED]
    requests = []
    for r in shown:
        row = r.to_json()
        open_, started = r.status in OPEN and not r.in_effect, r.start <= now
        row.update(requester_name=name(r.requester), counterpart_name=name(r.counterpart),
                   accepted_by_name=name(r.accepted_by) if r.accepted_by else None,
                   awaiting=r.awaiting(rotation.swap_approval, lead), actions=[])
        if person and open_ and not started:
            if r.kind == "swap" and r.status == "requested" and person != r.requester and r.counterpart in (None, person) \
                    and not ineligible_because(rotation, service.effective, person, r.role, r.start, r.end):
                row["actions"].append("accept")
            if r.status == "requested" and r.counterpart == person and r.kind == "swap":
                row["actions"].append("decline")
            if r.status == "accepted" and person == lead and rotation.swap_approval == "lead":
                row["actions"] += ["approve", "decline"]
            if person == r.requester:
                row["actions"].append("cancel")
        requests.append(row)
    return {"person": person, "person_name": name(person) if person else None, "lead": lead,
            "approval": rotation.swap_approval, "mine": mine, "takeable": takeable, "requests": requests,
            "window": {"start": iso(start), "end": iso(end)}}


def panel_window(start_date, weeks: int) -> tuple[datetime, datetime]:
    """The calendar's day-by-day window in the rotation's time zone, as UTC instants."""
    tz = get_schedule_service().rotation.tz
    first = datetime.combine(start_date, time(0), tz).astimezone(timezone.utc)
    return first, first + timedelta(weeks=weeks)


def swap_list(open_only: bool) -> dict:
    """`GET /api/swaps`: requests newest first with their audit trail (`oncall swap list --format json`)."""
    return {"requests": [r.to_json() for r in oncall_service.list_swaps(statuses=OPEN if open_only else None)]}


# --- the Calendar page's "Vacations" form (the same service API as `oncall vacation add|remove`) ---

VACATION_ACTIONS = ("add", "remove")


def _day(field: str, text: str | None) -> date:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        raise BadRequest(f"{field}={str(text)[:40]!r}: not a date (YYYY-MM-DD, a whole day in your own time zone)") from None


def vacation_action(action: str, person: str, form: dict) -> dict:
    """Add a vacation for `person` (the acting user) or remove one of theirs (the team lead may
    remove anyone's); a refusal becomes BadRequest, NotFound, Conflict or Forbidden naming field and value."""
    if action not in VACATION_ACTIONS:
        raise NotFound(f"unknown vacation action {action!r} (one of {', '.join(VACATION_ACTIONS)})")
    get = form.get
    try:
        if action == "add":
            return oncall_service.add_vacation(None, person=person, first_day=_day("start", get("start")),
                                               last_day=_day("end", get("end")), note=get("note") or None, by=person).to_json()
        vacation_id = _request_id(get("id"))
        rotation = get_schedule_service().rotation
        registry = get_registry()
        lead = registry.teams[rotation.team].lead if rotation.team in registry.teams else None
        mine = {v.id: v for v in oncall_service.list_vacations() if v.id is not None}
        if vacation_id in mine and person not in (mine[vacation_id].person, lead):
            raise Forbidden(f"id={vacation_id}: vacation of {mine[vacation_id].person}; only they or the team lead remove it")
        cancelled = oncall_service.remove_vacation(None, vacation_id, by=person)
        return {"removed": vacation_id, "cancelled_swap_requests": [r.id for r in cancelled]}
    except SwapError as exc:  # VacationError is one
        error = {"not_found": NotFound, "conflict": Conflict, "forbidden": Forbidden}.get(exc.kind, BadRequest)
        raise error(f"{exc.field}={exc.value!r}: {exc.message}") from None


def vacation_panel(person: str | None) -> dict:
    """The vacations the schedule uses (oncall.yaml's and the ops DB's), those from today on,
    each marked removable by `person` (their own ops-DB ones; the lead: any ops-DB one)."""
    registry = get_registry()
    rotation = get_schedule_service().rotation
    lead = registry.teams[rotation.team].lead if rotation.team in registry.teams else None
    today = datetime.now(rotation.tz).date()
    rows = []
    for v in oncall_service.list_vacations():
        if v.last_day < today:
            continue
        name = registry.people[v.person].name if v.person in registry.people else v.person
        rows.append({**v.to_json(), "name": name,
                     "removable": bool(person) and v.id is not None and person in (v.person, lead)})
    return {"person": person, "vacations": rows}
