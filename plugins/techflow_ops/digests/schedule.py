"""When each digest is due, which days it covers, and who receives it: pure Python.

All three digests go out at 09:00 in the team's time zone (oncall.yaml `rotation.handoff.timezone`).
The DAG `techflow_digests` runs every day at 09:00 (`CronTriggerTimetable("0 9 * * *")`) and
asks each digest whether it is due that day:
- daily: every day; covers yesterday;
- weekly: Mondays (before the 10:00 hand-off meeting); covers the seven days before;
- monthly: the first business day of the month (not a weekend day, not a holiday of the
  rotation's calendar: its country's public holidays and the company days); covers the
  previous calendar month. A cron expression cannot say "first business day": 1 January on a
  Friday makes it the 4th, a 1 September on a Saturday (Labor Day on the 3rd) the 4th.
"""

from __future__ import annotations

from datetime import date, timedelta

from .compose import KINDS, Audience

SPARKLINE_DAYS = 14  # the daily digest's run-success sparkline: two weeks up to yesterday
WEEKS_OF_RESPONSE = 8  # the weekly digest's MTTA/MTTR chart


def covered_days(kind: str, today: date) -> tuple[date, date]:
    """The first and last local day (inclusive) a digest made on `today` reports on."""
    if kind == "daily":
        return today - timedelta(days=1), today - timedelta(days=1)
    if kind == "weekly":
        return today - timedelta(days=7), today - timedelta(days=1)
    if kind == "monthly":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    raise ValueError(f"digest kind must be one of {list(KINDS)}, not {kind!r}")


def chart_days(kind: str, today: date) -> tuple[date, date]:
    """The days of the run-success sparklines: two weeks for the daily digest, else the period."""
    start, end = covered_days(kind, today)
    return (end - timedelta(days=SPARKLINE_DAYS - 1), end) if kind == "daily" else (start, end)


def first_business_day(year: int, month: int, holidays) -> date:
    day = date(year, month, 1)
    while day.weekday() >= 5 or day in holidays:
        day += timedelta(days=1)
    return day


def last_business_days(last_day: date, count: int, holidays) -> tuple[date, date]:
    """The first and last of the month's last `count` business days (the investor period)."""
    day, found = last_day, []
    while len(found) < count and day.month == last_day.month:
        if day.weekday() < 5 and day not in holidays:
            found.append(day)
        day -= timedelta(days=1)
    return (found[-1], found[0]) if found else (last_day, last_day)


def due(kind: str, today: date, holidays) -> str | None:
    """None when the digest is due on `today`, else why not."""
    if kind == "daily":
        return None
    if kind == "weekly":
        return None if today.weekday() == 0 else f"the weekly digest goes on Mondays; {today.isoformat()} is a {today:%A}"
    if kind == "monthly":
        first = first_business_day(today.year, today.month, holidays)
        return None if today == first else (f"the monthly digest goes on the month's first business day "
                                            f"({first.isoformat()}), not {today.isoformat()}")
    raise ValueError(f"digest kind must be one of {list(KINDS)}, not {kind!r}")


def _team_emails(team, registry, default_conn: str | None) -> tuple[tuple[str, str | None], ...]:
    emails = tuple((c.target, c.connection_id or default_conn) for c in team.contact if c.type == "email")
    return emails or tuple((registry.person(m).email, default_conn) for m in team.members)


def _person_emails(person, default_conn: str | None) -> tuple[tuple[str, str | None], ...]:
    emails = tuple((c.target, c.connection_id or default_conn) for c in person.contact_methods() if c.type == "email")
    return emails or ((person.email, default_conn),)


def audiences(kind: str, registry, *, cfo: str | None, smtp_conn_id: str | None) -> list[Audience]:
    """Who receives the `kind` digest (module docstring of `compose`)."""
    every = tuple(registry.pipelines)
    engineering = [t for t in registry.teams.values() if t.kind == "engineering"]
    found = [Audience(f"team:{t.id}", t.name, _team_emails(t, registry, smtp_conn_id), every) for t in engineering]
    if kind == "daily":
        owners: dict[str, list[str]] = {}
        for pipeline in registry.pipelines.values():
            owners.setdefault(pipeline.business_owner_team, []).append(pipeline.id)
        for team_id, pipeline_ids in owners.items():
            team = registry.team(team_id)
            if team.kind != "engineering":
                found.append(Audience(f"team:{team.id}", team.name, _team_emails(team, registry, smtp_conn_id),
                                      tuple(pipeline_ids)))
    elif kind == "monthly":
        found = [Audience(f"team:{t.id}", t.name, _team_emails(t, registry, smtp_conn_id), every)
                 for t in registry.teams.values() if t.kind == "management"]
        if cfo and cfo in registry.people:
            person = registry.person(cfo)
            found.append(Audience(f"person:{cfo}", f"{person.name} (CFO)", _person_emails(person, smtp_conn_id), every))
    elif kind != "weekly":
        raise ValueError(f"digest kind must be one of {list(KINDS)}, not {kind!r}")
    return found
