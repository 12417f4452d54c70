"""iCalendar (RFC 5545) feeds of on-call shifts, per person and per team.

Events carry TZID times in the subscriber's own timezone (person feed) or the rotation's
hand-off timezone (team feed) with the matching VTIMEZONE, so a Berlin engineer sees a New
York 10:00 hand-off at 16:00 on both sides of DST. UIDs hash person + role + start, so a
republished or overridden shift updates the calendar entry instead of duplicating it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from .model import Shift
from .service import ScheduleService, get_schedule_service

PRODID = "-//TechFlow Ops//On-call schedule//EN"
UID_DOMAIN = "oncall.techflow-ops"
ROLE_TITLES = {"primary": "Primary on call", "secondary": "Secondary (backup) on call", "investor_watch": "Investor-period watch"}


def shift_uid(shift: Shift) -> str:
    digest = hashlib.sha1(f"{shift.person}|{shift.role}|{shift.start.isoformat()}".encode()).hexdigest()[:20]
    return f"{digest}@{UID_DOMAIN}"


def build_calendar(service: ScheduleService, shifts: list[Shift], name: str, tz: ZoneInfo) -> bytes:
    people = service.registry.people
    stamp = service.published.published_at if service.published else datetime(2026, 1, 1, tzinfo=timezone.utc)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", str(tz.key))
    for shift in shifts:
        person = people.get(shift.person)
        who = person.name if person else shift.person
        event = Event()
        event.add("uid", shift_uid(shift))
        event.add("dtstamp", stamp)
        event.add("dtstart", shift.start.astimezone(tz))
        event.add("dtend", shift.end.astimezone(tz))
        event.add("summary", f"{ROLE_TITLES.get(shift.role, shift.role)}: {who}")
        details = [f"role: {shift.role}", f"person: {shift.person}", f"source: {shift.source}"]
        if shift.reason:
            details.append(f"note: {shift.reason}")
        event.add("description", "\n".join(details))
        event.add("categories", ["on-call", shift.role])
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


def ics_for_person(person_id: str, config_dir: Path | None = None) -> bytes:
    """The person's shifts over the whole known schedule, in their own timezone."""
    service = get_schedule_service(config_dir)
    person = service.registry.people.get(person_id)
    if person is None:
        raise KeyError(f"unknown person {person_id!r}")
    shifts = service.shifts_of(person_id)
    return build_calendar(service, shifts, f"On call: {person.name}", ZoneInfo(person.timezone))


def ics_for_team(team_id: str, config_dir: Path | None = None) -> bytes:
    """Every shift of the team's rotation, in the rotation's hand-off timezone."""
    service = get_schedule_service(config_dir)
    if team_id not in service.registry.teams:
        raise KeyError(f"unknown team {team_id!r}")
    if team_id != service.rotation.team:
        raise KeyError(f"team {team_id!r} has no on-call rotation (the rotation is {service.rotation.team!r}'s)")
    shifts = service.shifts(service.covered_from, service.covered_until)
    team = service.registry.teams[team_id]
    return build_calendar(service, shifts, f"On call: {team.name}", service.rotation.tz)
