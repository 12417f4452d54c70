"""What the pages and the JSON API show, as JSON-able dicts.

Pages and API share these builders so they never disagree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from .. import escalation, links, settings
from .. import inbox as inbox_area
from ..escalation import action_links
from ..escalation.policy import PLATFORM_PIPELINE_ID, get_policy
from ..failures import FailureClass
from ..oncall import get_schedule_service
from ..oncall.fairness import METRICS, fairness_report
from ..oncall.model import ROLES
from ..oncall.timeline import holiday_names
from ..pipelines import warehouse
from ..quality.results import latest_results
from ..registry import Person, Registry, format_duration, get_registry
from ..reports import snapshots

log = logging.getLogger(__name__)


class NotFound(LookupError):
    """The thing asked for does not exist (answered as 404)."""


class BadRequest(ValueError):
    """A query value the area refuses (answered as 400)."""


class Conflict(Exception):
    """The action does not fit the current state, e.g. acknowledging a resolved incident (409)."""


def jsonable(value: Any) -> Any:
    """Plain JSON types from the dataclasses / pydantic models / enums other areas return."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_duration(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value


def _contact_href(kind: str, target: str) -> str | None:
    if kind == "email":
        return f"mailto:{target}"
    return None


def person_json(person: Person) -> dict:
    return {
        "id": person.id,
        "name": person.name,
        "title": person.title,
        "email": person.email,
        "slack": person.slack,
        "timezone": person.timezone,
        "contact": [
            {"type": c.type, "target": c.target, "href": _contact_href(c.type, c.target)}
            for c in person.contact_methods()
        ],
    }


def _person_ref(registry: Registry, person_id: str | None) -> dict | None:
    """The schedule names people by id; one it names but the registry lacks is shown, flagged."""
    if person_id is None:
        return None
    if person_id in registry.people:
        return person_json(registry.people[person_id])
    return {"id": person_id, "name": person_id, "unknown": True, "contact": []}


def _stakeholder(registry: Registry, ref: str) -> dict:
    if ref in registry.people:
        return {"kind": "person", "id": ref, "name": registry.people[ref].name}
    return {"kind": "team", "id": ref, "name": registry.teams[ref].name}


# --- on call -----------------------------------------------------------------------------


def oncall_now(at: datetime | None = None) -> dict:
    registry = get_registry()
    at = at or datetime.now(timezone.utc)
    if at.tzinfo is None:  # a bare ?at= from the API means UTC
        at = at.replace(tzinfo=timezone.utc)
    now = get_schedule_service().now(at)
    return {
        "at": at.isoformat(),
        "primary": _person_ref(registry, now.primary),
        "secondary": _person_ref(registry, now.secondary),
        "investor_watch": [_person_ref(registry, now.investor_watch)] if now.investor_watch else [],
        "in_investor_period": now.in_investor_period,
        "off_hours": now.off_hours,
        "next_handoff": jsonable(now.next_handoff),
        "gaps": list(now.gaps),
        "sources": dict(now.sources),
        "report_readiness": report_readiness(at.astimezone(timezone.utc).date()),
    }


def report_readiness(today: date) -> dict:
    """Investor (monthly) and executive (weekly) snapshots of the current and previous period:
    frozen, complete, validated, signed off."""
    try:
        return {"periods": snapshots.readiness(warehouse.get_engine(), today), "error": None}
    except Exception as exc:
        # The on-call page is what the engineer opens during an incident; an unreachable
        # warehouse must cost this section, not the page.
        log.exception("report readiness: could not read the warehouse")
        return {"periods": [], "error": f"could not read the warehouse: {type(exc).__name__}"}


def calendar(start: date, weeks: int) -> dict:
    """Day by day in the rotation's timezone: who holds each role, holidays, who is away,
    overrides and the investor-report period."""
    registry = get_registry()
    service = get_schedule_service()
    rotation = service.rotation
    tz = rotation.tz
    first = datetime.combine(start, time(0), tz)
    last = datetime.combine(start + timedelta(weeks=weeks), time(0), tz)
    shifts = service.shifts(first, last)
    holidays = holiday_names(rotation, first.year, last.year)

    def name(person_id: str) -> str:
        return registry.people[person_id].name if person_id in registry.people else person_id

    days = []
    for offset in range((last.date() - first.date()).days):
        day = start + timedelta(days=offset)
        day_start = datetime.combine(day, time(0), tz)
        day_end = datetime.combine(day + timedelta(days=1), time(0), tz)
        roles: dict[str, list[dict]] = {}
        for shift in shifts:
            if shift.start < day_end and shift.end > day_start:
                holders = roles.setdefault(shift.role, [])
                entry = {"person": shift.person, "name": name(shift.person), "source": shift.source, "reason": shift.reason}
                if entry not in holders:
                    holders.append(entry)
        away = [
            {"person": person, "name": name(person)}
            for person, spans in rotation.vacations.items()
            if any(s < day_end and e > day_start for s, e in spans)
        ]
        days.append(
            {
                "date": day.isoformat(),
                "weekday": day.strftime("%a"),
                "holiday": holidays.get(day),
                "investor_period": service.now(day_start + timedelta(hours=12)).in_investor_period,
                "away": away,
                "overrides": any(h["source"] == "override" for holders in roles.values() for h in holders),
                "roles": roles,
            }
        )
    return {
        "timezone": str(tz),
        "start": first.isoformat(),
        "end": last.isoformat(),
        "roles": list(rotation.roles),
        "days": days,
        "gaps": jsonable(service.gaps(first, last)),
    }


# Light backgrounds that keep dark text readable, no two of the same hue; the name is always
# written beside the colour, so nobody is told apart by colour alone.
PERSON_COLOURS = ("#93c5fd", "#fcd34d", "#86efac", "#f9a8d4", "#c4b5fd", "#fdba74", "#67e8f9", "#bef264", "#fca5a5",
                  "#5eead4")
MONTH_YEARS = range(2000, 2101)  # a month outside is a typo: its calendar would cost a year of holidays for nothing
ROLE_SHORT = {"primary": "P", "secondary": "S", "investor_watch": "IW"}


def person_colours(people) -> dict[str, str]:
    """A colour per person, the same on every page and day: picked by a hash of the person's id
    (not their place in the rotation, which changes when someone joins), the next free one on a
    clash among `people` (taken in id order, so the result does not depend on their order)."""
    colours: dict[str, str] = {}
    for person in sorted(set(people)):
        index = int.from_bytes(hashlib.blake2b(person.encode("utf-8"), digest_size=4).digest(), "big") % len(PERSON_COLOURS)
        for probe in range(len(PERSON_COLOURS)):
            colour = PERSON_COLOURS[(index + probe) % len(PERSON_COLOURS)]
            if colour not in colours.values():
                break
        colours[person] = colour  # more people than colours: clashes allowed, the name is written anyway
    return colours


def parse_month(text: str | None, today: date) -> date:
    """`?month=YYYY-MM` as the month's first day (None or empty: `today`'s month). Raises
    BadRequest naming the parameter and its value."""
    if text is None or not text.strip():
        return today.replace(day=1)
    value = text.strip()
    shown = value if len(value) <= 40 else value[:40] + "..."
    if not re.fullmatch(r"\d{4}-\d{2}", value):
        raise BadRequest(f"month={shown!r}: not a month (YYYY-MM, e.g. 2026-12)")
    year, month = int(value[:4]), int(value[5:])
    if not 1 <= month <= 12:
        raise BadRequest(f"month={shown!r}: month {month} is not 01..12")
    if year not in MONTH_YEARS:
        raise BadRequest(f"month={shown!r}: year {year} is outside {MONTH_YEARS.start}..{MONTH_YEARS.stop - 1}")
    return date(year, month, 1)


def _local_days(span: tuple[datetime, datetime], tz) -> set[date]:
    """The local dates an interval touches in `tz` (a vacation's whole days in the person's own zone)."""
    first = span[0].astimezone(tz).date()
    last = (span[1] - timedelta(microseconds=1)).astimezone(tz).date()
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


def month_grid(month_text: str | None = None, today: date | None = None) -> dict:
    """The calendar's month view: a column per day of the month (the rotation's time zone), a
    row per role with its holders, and a row per person with their own public holidays and
    company days, vacations, the roles they hold, and the swap requests waiting for someone.
    Raises BadRequest for a bad `month`."""
    from ..oncall import store
    from ..oncall.timeline import Timeline
    from ..opsdb import get_engine

    registry = get_registry()
    service = get_schedule_service()
    rotation = service.rotation
    tz = rotation.tz
    first = parse_month(month_text, today or datetime.now(tz).date())
    following = (first + timedelta(days=32)).replace(day=1)
    begin, end = datetime.combine(first, time(0), tz), datetime.combine(following, time(0), tz)
    dates = [first + timedelta(days=n) for n in range((following - first).days)]
    day_bounds = [(datetime.combine(d, time(0), tz), datetime.combine(d + timedelta(days=1), time(0), tz)) for d in dates]
    # The month's own calendar: the service's timeline only spans the known schedule's years.
    timeline = Timeline(rotation, first.year, first.year)
    shifts = service.shifts(begin, end)
    # Pending: waiting for the colleague, or accepted and waiting for the lead when one must approve.
    pending = ("requested", "accepted") if rotation.swap_approval == "lead" else ("requested",)
    with get_engine().connect() as connection:
        swaps = store.swap_requests_overlapping(connection, rotation.id, begin, end, pending)
    people = list(rotation.members) + sorted({s.person for s in shifts} - set(rotation.members))
    colours = person_colours(people)

    def name(person_id: str | None) -> str | None:
        if person_id is None:
            return None
        return registry.people[person_id].name if person_id in registry.people else person_id

    def holder(shift) -> dict:
        return {"person": shift.person, "name": name(shift.person), "colour": colours.get(shift.person, "#e5e7eb"),
                "source": shift.source, "reason": shift.reason}

    def overlapping(items, index: int, start=lambda x: x.start, stop=lambda x: x.end) -> list:
        lo, hi = day_bounds[index]
        return [x for x in items if start(x) < hi and stop(x) > lo]

    days = []
    for index, day in enumerate(dates):
        lo, hi = day_bounds[index]
        roles = {}
        for role in rotation.roles:
            held = []
            for shift in overlapping([s for s in shifts if s.role == role], index):
                entry = holder(shift)
                if entry not in held:
                    held.append(entry)
            roles[role] = held
        days.append({"date": day.isoformat(), "day": day.day, "weekday": day.strftime("%a"), "weekend": day.weekday() >= 5,
                     "investor_period": bool(timeline.investor.overlap(lo, hi)), "roles": roles})

    # Consecutive days with the same holders are one cell, wide enough for the holder's whole name.
    role_runs: dict[str, list[dict]] = {role: [] for role in rotation.roles}
    for role, runs in role_runs.items():
        for day in days:
            if runs and runs[-1]["holders"] == day["roles"][role]:
                runs[-1].update(last=day["date"], span=runs[-1]["span"] + 1)
            else:
                runs.append({"date": day["date"], "last": day["date"], "span": 1, "holders": day["roles"][role]})
    swap_rows = [{**swap, "start": swap["start"].isoformat(), "end": swap["end"].isoformat(),
                  "requested_at": swap["requested_at"].isoformat(), "requester_name": name(swap["requester"]),
                  "counterpart_name": name(swap["counterpart"]) or "anyone eligible"} for swap in swaps]
    rows = []
    for person in people:
        home = rotation.home(person)
        holidays = timeline.home_calendar(person).names
        away = set().union(*(_local_days(span, ZoneInfo(home.timezone)) for span in rotation.vacations.get(person, ())))
        cells = []
        for index, day in enumerate(dates):
            mine = [s for s in overlapping(shifts, index) if s.person == person]
            cells.append({
                "date": day.isoformat(),
                "roles": sorted({s.role for s in mine}, key=ROLES.index),
                "override": any(s.source == "override" for s in mine),
                "holiday": holidays.get(day),
                "vacation": day in away,
                "swaps": [s["id"] for s in overlapping(swaps, index, lambda x: x["start"], lambda x: x["end"])
                          if person in (s["requester"], s["counterpart"])],
            })
        rows.append({"person": person, "name": name(person), "colour": colours[person], "member": person in rotation.members,
                     "home": {"timezone": home.timezone, "country": home.country, "subdivision": home.subdivision},
                     "days": cells})
    holidays_listed = {}
    for row in rows:
        for cell in row["days"]:
            if cell["holiday"]:
                holidays_listed.setdefault((cell["date"], cell["holiday"]), []).append(row["name"])
    overrides = [{"person": s.person, "name": name(s.person), "role": s.role, "start": s.start.isoformat(),
                  "end": s.end.isoformat(), "reason": s.reason} for s in shifts if s.source == "override"]
    return {
        "month": first.strftime("%Y-%m"),
        "title": first.strftime("%B %Y"),
        "previous": (first - timedelta(days=1)).strftime("%Y-%m"),
        "next": following.strftime("%Y-%m"),
        "timezone": str(tz),
        "roles": list(rotation.roles),
        "role_short": {role: ROLE_SHORT.get(role, role) for role in rotation.roles},
        "days": days,
        "role_runs": role_runs,
        "people": rows,
        "holidays": [{"date": d, "name": n, "people": who} for (d, n), who in sorted(holidays_listed.items())],
        "overrides": overrides,
        "pending_swaps": swap_rows,
        "covered_until": service.covered_until.isoformat(),
        "beyond_schedule": end > service.covered_until,
    }


def fairness(start: date | None = None, weeks: int | None = None) -> dict:
    """On-call load per person and role over the known schedule, counted against whoever served
    each hour (effective shifts: overrides, swaps and takes applied, as in `techflow-ops oncall
    fairness`), beside what strict round-robin would have given."""
    registry = get_registry()
    service = get_schedule_service()
    begin = datetime.combine(start, time(0), service.rotation.tz) if start else service.covered_from
    end = min(begin + timedelta(weeks=weeks) if weeks else service.covered_until, service.covered_until)
    report = fairness_report(service.rotation, service.shifts(begin, end), service.timeline, begin, end)
    names = {person: registry.people[person].name if person in registry.people else person for person in report["members"]}
    return {"metrics": list(METRICS), "names": names, "report": report}


def fairness_charts(data: dict, *, draw: bool = True) -> dict[str, dict]:
    """role -> the fairness page's chart of `fairness()`'s `data`: each person's weighted burden
    and hour components, fair schedule vs round-robin (`charts.fairness_burden`); with `draw`,
    also as inline SVG (`web.health.chart_svg`: drawn again only when the numbers change)."""
    from .. import charts
    from .health import chart_svg

    report = data["report"]
    period = f"{report['from'][:10]} to {report['until'][:10]}"
    out = {}
    for role, rows in report["fair"]["per_person"].items():
        spec = charts.fairness_burden(role, rows, report["round_robin"]["per_person"].get(role, {}), data["names"], period=period)
        out[role] = {"title": spec.title, "alt": spec.alt, "data": spec.data}
        if draw:
            out[role]["svg"] = chart_svg(spec)
    return out


# --- ownership ---------------------------------------------------------------------------


def _pipeline_row(registry: Registry, pipeline, state, quality: dict, health: dict) -> dict:
    team = registry.teams[pipeline.business_owner_team]
    return {
        "pipeline_id": pipeline.id,
        "title": pipeline.title,
        "description": pipeline.description,
        "owners": {
            "primary": person_json(registry.people[pipeline.owners.primary]),
            "secondary": person_json(registry.people[pipeline.owners.secondary]),
        },
        "business_owner_team": {"id": team.id, "name": team.name},
        "stakeholders": [_stakeholder(registry, s) for s in pipeline.stakeholders],
        "criticality": pipeline.criticality.value,
        "tier": pipeline.criticality.tier,
        "investor_facing": pipeline.investor_facing,
        "freshness_sla": format_duration(pipeline.freshness_sla),
        "resolution_sla": format_duration(pipeline.resolution_sla),
        "runbook_url": links.runbook_url(pipeline.id),
        "dag_url": links.dag_url(pipeline.dag_id),
        "airflow": state.as_json(),
        "data_quality": quality["results"].get(pipeline.id),
        "health": health,
    }


def ownership(session, readable: ReadableDags | None = None) -> dict:
    """Every pipeline, or with `readable` those whose DAG the user may read."""
    from .airflow_state import dag_states

    registry = get_registry()
    pipelines = list(registry.pipelines.values())
    if readable is not None:
        allowed = readable({p.dag_id for p in pipelines})
        pipelines = [p for p in pipelines if p.dag_id in allowed]
    states = dag_states(session, [p.dag_id for p in pipelines])
    quality = latest_quality()
    health = pipeline_health_states()
    rows = [_pipeline_row(registry, p, states[p.dag_id], quality, health[p.id]) for p in pipelines]
    rows.sort(key=lambda r: (r["tier"], r["pipeline_id"]))
    return {"pipelines": rows}


def dag_overview(session, dag_id: str) -> dict:
    """Everything the per-DAG tab shows: ownership, SLA, who is on call, open incidents, DQ, runbook."""
    from .airflow_state import dag_states

    registry = get_registry()
    pipeline = next((p for p in registry.pipelines.values() if p.dag_id == dag_id), None)
    if pipeline is None:
        raise NotFound(f"DAG {dag_id!r} is not a TechFlow pipeline in {registry.config_dir}")
    state = dag_states(session, [dag_id])[dag_id]
    row = _pipeline_row(registry, pipeline, state, latest_quality(), pipeline_health_states()[pipeline.id])
    return {
        "pipeline": row,
        "oncall": oncall_now(),
        "incidents": incidents("unresolved", pipeline_id=pipeline.id),
        "runbook": runbook(pipeline.id),
    }


# --- health: one state per pipeline, and the Health page's KPIs ------------------------------


def pipeline_health_states() -> dict[str, dict]:
    """{pipeline_id: {"state", "reasons"}} as of now (README "KPIs and health", cached: `web.health`).

    A source that cannot be read (Airflow's metadata DB, the warehouse) costs the health, not
    the page that shows it: every pipeline is then `unknown`, with the reason."""
    from . import health

    try:
        return health.health_now()
    except Exception as exc:
        log.exception("health: could not read the KPI sources")
        reason = f"health unavailable: could not read its sources ({type(exc).__name__})"
        return {pipeline_id: {"state": "unknown", "reasons": [reason]} for pipeline_id in get_registry().pipelines}


def health_summary(readable: ReadableDags | None = None) -> dict:
    """The On-call page's health section: how many pipelines are in each state, and those not
    healthy, worst first, with their reasons."""
    from ..kpi.health import RANK, STATES

    registry = get_registry()
    pipelines = list(registry.pipelines.values())
    if readable is not None:
        allowed = readable({p.dag_id for p in pipelines})
        pipelines = [p for p in pipelines if p.dag_id in allowed]
    states = pipeline_health_states()
    counts = {state: 0 for state in reversed(STATES)}
    attention = []
    for pipeline in pipelines:
        health = states[pipeline.id]
        counts[health["state"]] += 1
        if health["state"] != "healthy":
            attention.append({"pipeline_id": pipeline.id, "title": pipeline.title, "tier": pipeline.criticality.tier,
                              "dag_url": links.dag_url(pipeline.dag_id), **health})
    attention.sort(key=lambda row: (-RANK[row["state"]], row["tier"], row["pipeline_id"]))
    return {"counts": counts, "pipelines": attention}


HEALTH_DEFAULT_DAYS = 28
HEALTH_MAX_DAYS = 366


def health_window(from_text: str | None, to_text: str | None, today: date) -> tuple[date, date]:
    """The Health page's whole days: `to` defaults to today, `from` to HEALTH_DEFAULT_DAYS days
    ending with `to`. Raises BadRequest naming the parameter and its value."""

    def parse(name: str, text: str) -> date:
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise BadRequest(f"{name}={shown!r}: not a date (YYYY-MM-DD)") from None

    to_date = parse("to", to_text) if to_text else today
    from_date = parse("from", from_text) if from_text else to_date - timedelta(days=HEALTH_DEFAULT_DAYS - 1)
    if from_date > to_date:
        raise BadRequest(f"from={from_date.isoformat()} is after to={to_date.isoformat()}")
    days = (to_date - from_date).days + 1
    if days > HEALTH_MAX_DAYS:
        raise BadRequest(f"from={from_date.isoformat()} to={to_date.isoformat()} spans {days} days: "
                         f"at most {HEALTH_MAX_DAYS} at a time")
    return from_date, to_date


def health(from_text: str | None, to_text: str | None, readable: ReadableDags | None = None) -> dict:
    """KPIs of the window for the pipelines whose DAG the user may read (totals pool those
    only), with the series and the charts (SVG) of the Health page."""
    from . import health as health_area

    today = datetime.now(health_area.team_timezone()).date()
    from_date, to_date = health_window(from_text, to_text, today)
    registry = get_registry()
    pipelines = list(registry.pipelines.values())
    if readable is not None:
        allowed = readable({p.dag_id for p in pipelines})
        pipelines = [p for p in pipelines if p.dag_id in allowed]
    ordered = sorted(pipelines, key=lambda p: (p.criticality.tier, p.id))  # as the ownership matrix
    data = health_area.health_page(from_date, to_date, tuple(p.id for p in ordered))
    return {**data, "order": [p.id for p in ordered]}


_QUALITY_ORDER = {"passed": 0, "warned": 1, "failed": 2}


def latest_quality() -> dict:
    """The newest validation of every dataset, folded per pipeline: the worst status wins."""
    by_pipeline: dict[str, dict] = {}
    for result in latest_results():
        summary = by_pipeline.setdefault(
            result["pipeline_id"], {"status": "passed", "success": True, "validated_at": None, "datasets": []}
        )
        if _QUALITY_ORDER.get(result["status"], 2) > _QUALITY_ORDER.get(summary["status"], 2):
            summary["status"] = result["status"]
        summary["success"] = summary["success"] and bool(result["success"])
        summary["validated_at"] = max(filter(None, (summary["validated_at"], result["validated_at"])))
        summary["datasets"].append(
            {
                "dataset": result["dataset"],
                "partition": result["partition"],
                "status": result["status"],
                "validated_at": result["validated_at"],
                "failed_checks": [f["check"] for f in result["failed"]],
                "data_docs_url": links.plugin_url(f"datadocs/{result['data_docs_path']}") if result.get("data_docs_path") else None,
            }
        )
    return {"results": by_pipeline}


def data_docs_dir():
    return settings.data_dir() / "quality" / "data_docs"


# --- runbooks ----------------------------------------------------------------------------


def runbook(pipeline_id: str) -> dict:
    from .runbook_html import render_runbook

    registry = get_registry()
    if pipeline_id == PLATFORM_PIPELINE_ID:  # platform incidents' runbook (escalation.yaml `platform`)
        from ..registry.registry import resolve_runbook

        platform = get_policy(registry.config_dir).platform_pipeline(registry)
        path, title = resolve_runbook(platform.runbook, registry.project_root, registry.config_dir), platform.title
    elif pipeline_id not in registry.pipelines:
        raise NotFound(f"unknown pipeline {pipeline_id!r}")
    else:
        path, title = registry.runbook_path(pipeline_id), registry.pipelines[pipeline_id].title
    markdown_text = path.read_text(encoding="utf-8")
    return {
        "pipeline_id": pipeline_id,
        "title": title,
        "source": str(path.relative_to(registry.project_root)) if path.is_relative_to(registry.project_root) else path.name,
        "markdown": markdown_text,
        "html": render_runbook(markdown_text, _runbook_pages(registry, path)),
    }


def _runbook_pages(registry: Registry, source: Path):
    """`growth.md#anchor` written in `source` -> the plugin's page for the pipeline whose runbook
    that file is; a Markdown file that is no pipeline's runbook keeps its link."""
    pipeline_by_file = {registry.runbook_path(pid).resolve(): pid for pid in registry.pipelines}

    def url(relative_path: str, fragment: str) -> str | None:
        pipeline_id = pipeline_by_file.get((source.parent / relative_path).resolve())
        return links.runbook_url(pipeline_id, fragment or None) if pipeline_id else None

    return url


# --- incidents ---------------------------------------------------------------------------


def _incident_json(incident: Any) -> dict:
    data = jsonable(incident)
    data["severity"] = data.get("severity") or "major"
    data["url"] = links.incident_url(data["id"])
    data["summary"] = _incident_summary(data)
    if data.get("pipeline_id") in get_registry().pipelines or data.get("pipeline_id") == PLATFORM_PIPELINE_ID:
        anchor = _runbook_anchor(data.get("failure_class"))
        data["runbook_url"] = links.runbook_url(data["pipeline_id"], anchor)
        data["runbook_anchor"] = anchor
    return data


def _incident_summary(data: dict) -> str:
    where = ".".join(part for part in (data.get("dag_id"), data.get("task_id")) if part)
    failure = (data.get("failure_class") or data.get("kind") or "failure").replace("_", " ")
    return f"{failure} in {where}" if where else failure


def _runbook_anchor(failure_class: str | None) -> str | None:
    try:
        return FailureClass(failure_class).anchor
    except ValueError:
        return None


# Given DAG ids, those the asking user may read.
ReadableDags = Callable[[set[str]], set[str]]

_READABLE_SCAN_MAX_BATCH = 1000


def incidents(
    status: str | None,
    pipeline_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
    readable: ReadableDags | None = None,
) -> dict:
    """Newest first; with `readable`, only incidents of DAGs the user may read, and `limit`/`offset`
    count those, so a page is never cut short by incidents the user may not see."""
    try:
        if readable is None:
            found = escalation.list_incidents(status=status, pipeline_id=pipeline_id, limit=limit, offset=offset)
        else:
            found = _readable_incidents(readable, status, pipeline_id, limit, offset)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return {"status": status, "incidents": [_incident_json(i) for i in found]}


def _readable_incidents(readable: ReadableDags, status, pipeline_id, limit: int, offset: int) -> list:
    # A user who may read every DAG (the usual case) is answered by the first batch.
    batch_size = min(offset + limit, _READABLE_SCAN_MAX_BATCH)
    decided: dict[str, bool] = {}
    kept: list = []
    to_skip = offset
    scanned = 0
    while True:
        batch = escalation.list_incidents(status=status, pipeline_id=pipeline_id, limit=batch_size, offset=scanned)
        undecided = {i.dag_id for i in batch} - decided.keys()
        if undecided:
            allowed = readable(undecided)
            decided.update({dag_id: dag_id in allowed for dag_id in undecided})
        for found in batch:
            if not decided[found.dag_id]:
                continue
            if to_skip:
                to_skip -= 1
                continue
            kept.append(found)
            if len(kept) == limit:
                return kept
        if len(batch) < batch_size:
            return kept
        scanned += len(batch)


def incident(incident_id: int) -> dict:
    try:
        found = escalation.get_incident(incident_id)
    except escalation.IncidentNotFound:
        raise NotFound(f"no incident {incident_id}") from None
    data = _incident_json(found)
    data["handover"] = escalation.service().handover_for(found) if found.status != "resolved" else None
    return data


def incident_action(incident_id: int, action: str, user_name: str, note: str, to: str = "") -> dict:
    try:
        if action in ("escalate", "reassign"):
            if not to:
                raise BadRequest(f"{action} needs `to`: team:<id>, person:<id> or a routed failure mode")
            {"escalate": escalation.escalate, "reassign": escalation.reassign}[action](
                incident_id, to, user_name, note or None)
        else:
            {"acknowledge": escalation.acknowledge, "resolve": escalation.resolve}[action](incident_id, user_name, note or None)
    except escalation.IncidentStateError as exc:
        raise Conflict(str(exc)) from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return incident(incident_id)


# --- acknowledge/resolve links from pages (no login: the signed link is the capability) ---


class LinkRefusal(Exception):
    """A page link that cannot be used: `status_code` (403 invalid, 410 used or expired,
    409 the incident's state, 404 unknown), a short `reason` and what to tell the person."""

    def __init__(self, status_code: int, reason: str, message: str):
        super().__init__(message)
        self.status_code, self.reason, self.message = status_code, reason, message


def _link_refusal(refused: action_links.LinkRefused) -> LinkRefusal:
    if refused.reason == action_links.EXPIRED:
        max_age = format_duration(settings.link_max_age())
        return LinkRefusal(410, refused.reason, f"This link has expired: links in pages work for {max_age} after they were sent.")
    what = {action_links.WRONG_INCIDENT: "another incident", action_links.WRONG_RECIPIENT: "another person",
            action_links.WRONG_ACTION: "another action"}.get(refused.reason)
    if what:
        return LinkRefusal(403, refused.reason, f"This link is not valid here: it was issued for {what}.")
    return LinkRefusal(403, refused.reason, "This link is not valid: it is incomplete, was changed, or was signed "
                                            "with a key that has since been rotated.")


def _link_state_refusal(incident, action: str) -> LinkRefusal | None:
    if incident.status == "resolved":
        return LinkRefusal(409, "state", f"Incident #{incident.id} is already resolved by {incident.resolved_by}.")
    if action == action_links.ACKNOWLEDGE and incident.status != "open":
        return LinkRefusal(409, "state", f"Incident #{incident.id} is already {incident.status} by {incident.acknowledged_by}.")
    return None


def action_link(incident_id: int, recipient_id: str, action: str, token: str | None, *, perform: bool) -> dict:
    """What an acknowledge/resolve link from a page shows: with `perform` False (a GET, which a
    link-preview bot may make too) the confirmation, changing nothing; with `perform` True (the
    POST from that page) the action done as the link's recipient. Raises LinkRefusal."""
    try:
        claims = action_links.verify(incident_id, recipient_id, action, token)
    except action_links.LinkRefused as refused:
        raise _link_refusal(refused) from None
    try:
        current = escalation.get_incident(incident_id)
    except escalation.IncidentNotFound:
        raise LinkRefusal(404, "unknown incident", f"There is no incident #{incident_id} (any more).") from None
    if escalation.action_link_used(claims.nonce):  # checked again, atomically, when it is used
        raise LinkRefusal(410, "used", "This link was used already: each link in a page works once.")
    refusal = _link_state_refusal(current, action)
    if refusal is not None:
        raise refusal
    if perform:
        try:
            current = escalation.act_by_link(incident_id, recipient_id, action, claims.nonce)
        except escalation.ActionLinkUsed:
            raise LinkRefusal(410, "used", "This link was used already: each link in a page works once.") from None
        except escalation.IncidentStateError as exc:
            raise LinkRefusal(409, "state", str(exc)) from None
    registry = get_registry()
    recipient = registry.people.get(recipient_id) or registry.teams.get(recipient_id)
    pipeline = registry.pipelines.get(current.pipeline_id)
    return {
        "incident_id": current.id, "action": action, "recipient": recipient_id,
        "recipient_name": recipient.name if recipient else recipient_id,
        "pipeline": pipeline.title if pipeline else current.pipeline_id,
        "summary": _incident_summary(jsonable(current)), "status": current.status,
        "severity": current.severity or "major", "opened_at": current.opened_at.isoformat(),
        "url": links.incident_url(current.id), "done": perform,
    }


# --- the local inbox (what the loopback catcher of `make start` caught) ---------------------


def inbox(limit: int = 100, offset: int = 0, readable: ReadableDags | None = None) -> dict:
    """Caught messages, newest first; with `readable`, those of incidents whose DAG the user may
    not read are left out (and not counted by limit/offset)."""
    return {"messages": [inbox_area.message_json(m) for m in inbox_area.list_messages(limit, offset, readable)]}
