"""The one function that reads the real sources for a digest: the KPI API
(`techflow_ops.kpi`: Airflow runs, the ops DB, the on-call schedule), open incidents and DQ
warnings (ops DB), who is on call (the schedule service) and report readiness (warehouse
snapshots). Everything it returns is plain data for `compose`.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from .compose import DigestInputs
from .schedule import WEEKS_OF_RESPONSE, chart_days, covered_days, last_business_days


def _utc(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(timezone.utc)


def _incident_dict(incident, registry) -> dict:
    from .. import links
    from ..failures import FailureClass

    pipeline = registry.pipelines.get(incident.pipeline_id)
    try:
        anchor = FailureClass(incident.failure_class).anchor
    except ValueError:
        anchor = None
    owner = incident.assigned_to or incident.acknowledged_by or (pipeline.owners.primary if pipeline else None)
    return {"id": incident.id, "pipeline_id": incident.pipeline_id, "severity": incident.severity or "major",
            "status": incident.status, "opened_at": incident.opened_at, "resolved_at": incident.resolved_at,
            "owner": owner, "runbook_url": links.runbook_url(incident.pipeline_id, anchor) if pipeline else None}


def _incidents(engine, registry, *, opened_from: datetime | None = None, opened_until: datetime | None = None,
               unresolved: bool = False) -> list[dict]:
    from sqlalchemy import select

    from ..escalation.store import NOTICE_KIND, Incident
    from ..opsdb.schema import RESOLVED, incidents

    query = select(incidents).where(incidents.c.kind != NOTICE_KIND).order_by(incidents.c.id)
    if unresolved:
        query = query.where(incidents.c.status != RESOLVED)
    if opened_from is not None:
        query = query.where(incidents.c.opened_at >= opened_from)
    if opened_until is not None:
        query = query.where(incidents.c.opened_at < opened_until)
    with engine.connect() as connection:
        return [_incident_dict(Incident.from_row(row), registry) for row in connection.execute(query)]


def _dq_warnings(engine, start: datetime, end: datetime) -> list[dict]:
    from sqlalchemy import select

    from ..escalation.store import NOTICE_KIND
    from ..opsdb.schema import incidents

    query = (select(incidents.c.pipeline_id, incidents.c.details, incidents.c.error, incidents.c.opened_at)
             .where(incidents.c.kind == NOTICE_KIND, incidents.c.opened_at >= start, incidents.c.opened_at < end)
             .order_by(incidents.c.opened_at))
    with engine.connect() as connection:
        rows = list(connection.execute(query))
    warnings = []
    for pipeline_id, details, error, opened_at in rows:
        details = json.loads(details or "{}")
        warnings.append({"pipeline_id": pipeline_id, "dataset": details.get("dataset"),
                         "summary": (error or "").strip().splitlines()[0] if error else details.get("summary"),
                         "at": opened_at})
    return warnings


def load_inputs(kind: str, at: datetime, *, registry, oncall_config, engine=None) -> DigestInputs:
    """What the `kind` digest made at `at` reports, from the configured sources."""
    from .. import kpi
    from ..oncall.service import get_schedule_service
    from ..oncall.timeline import holiday_names
    from ..opsdb import get_engine

    engine = engine or get_engine()
    rotation = oncall_config.rotation
    tz = rotation.tz
    today = at.astimezone(tz).date()
    start, end = covered_days(kind, today)
    chart_start, chart_end = chart_days(kind, today)
    response_start = end - timedelta(days=7 * WEEKS_OF_RESPONSE - 1)
    year_start = date(end.year, 1, 1)
    earliest = min(start, chart_start, response_start, year_start)
    history = kpi.load_history(kpi.Window.from_dates(earliest, end, tz), registry=registry, config_dir=registry.config_dir)
    window = kpi.Window.from_dates(start, end, tz)
    inputs = DigestInputs(
        kind=kind, at=at, tz=tz, start=start, end=end,
        kpis=kpi.compute_kpis(window, history, registry=registry, now=at),
        daily_series=kpi.daily_series(kpi.Window.from_dates(chart_start, chart_end, tz), history, registry=registry, now=at),
        open_incidents=_incidents(engine, registry, unresolved=True),
        dq_warnings=_dq_warnings(engine, _utc(start, tz), _utc(end + timedelta(days=1), tz)),
    )
    schedule = get_schedule_service(registry.config_dir)
    if kind == "daily":
        inputs.oncall = []
        for day in (today, today + timedelta(days=1)):
            now = schedule.now(datetime.combine(day, time(12), tz))
            inputs.oncall.append({"day": day.isoformat(), "primary": now.primary, "secondary": now.secondary,
                                  "investor_watch": now.investor_watch})
    if kind == "weekly":
        inputs.weekly_series = kpi.weekly_series(kpi.Window.from_dates(response_start, end, tz), history, registry=registry)
        inputs.year_people = kpi.compute_kpis(kpi.Window.from_dates(year_start, end, tz), history,
                                              registry=registry, now=at).get("people", {})
        inputs.fairness_target_hours = rotation.shift_length.total_seconds() / 3600
        handoffs = schedule.handoffs(at, at + timedelta(days=1))
        if handoffs:
            inputs.handoff = {"at": handoffs[0].at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
                              "coming_on": {h.role: h.on for h in handoffs}, "going_off": {h.role: h.off for h in handoffs}}
    if kind == "monthly":
        holidays = holiday_names(rotation, end.year, end.year)
        first, last = last_business_days(end, rotation.investor_business_days or 5, holidays)
        inputs.month_end_incidents = _incidents(engine, registry, opened_from=_utc(first, tz),
                                                opened_until=_utc(last + timedelta(days=1), tz))
        inputs.readiness = _readiness(end, today, registry)
    return inputs


def _readiness(month_day: date, today: date, registry) -> list[dict]:
    from ..pipelines.warehouse import get_engine as warehouse_engine
    from ..reports.snapshots import Period, period_readiness, report_for

    return [period_readiness(warehouse_engine(), report_for("monthly"), Period.covering("monthly", month_day), today,
                             registry=registry)]
