"""KPIs per pipeline, per person and in total over a `Window`, from a `History` (pure Python:
no database, no Airflow, no clock but the `now` it is given). Each definition, with its
formula, is in README "KPIs and health"; the comments here say why where it is not obvious.

Instants past `now` have not happened: everything measured over time (days, uptime, on-call
hours, open incidents, health) stops at the window's observed end `cap = min(end, now)`.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from ..oncall.model import utc
from ..watchdog.checks import due_at
from .health import pipeline_health
from .model import History, Incident, Published, Window

NOTICE = "notice"  # a warning's incident: it never pages, so it has no acknowledgement to time
CRITICAL = "critical"
BURST = timedelta(seconds=60)
ROLE_KEYS = {"primary": "primary", "secondary": "secondary", "investor_watch": "watch"}
INTERRUPTION_WINDOWS = ("business", "off_hours", "sleep")
# The brief's success metrics (techflow.md "Success metrics"), compared in `totals.targets`.
TARGETS = {"uptime": 0.999, "sla_compliance": 1.0, "critical_resolved_within_48h": 1.0, "investor_completeness": 1.0}
CRITICAL_RESOLUTION = timedelta(hours=48)
DAY = timedelta(days=1)


# --- small pure helpers --------------------------------------------------------------------------

def nearest_rank(sorted_values: list[float], percent: int) -> float:
    """The nearest-rank percentile: the value at rank ceil(percent/100 * n), 1-based."""
    rank = -(-percent * len(sorted_values) // 100)
    return sorted_values[max(rank, 1) - 1]


def summary(values: list[float]) -> dict:
    """{mean, median, p90, p95} of `values` (seconds); all null for an empty set."""
    if not values:
        return {"mean": None, "median": None, "p90": None, "p95": None}
    ordered = sorted(values)
    return {"mean": math.fsum(ordered) / len(ordered), "median": statistics.median(ordered),
            "p90": nearest_rank(ordered, 90), "p95": nearest_rank(ordered, 95)}


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def merge(intervals) -> list[tuple[datetime, datetime]]:
    out: list[list[datetime]] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def covered_seconds(intervals, lo: datetime, hi: datetime) -> float:
    """Seconds of [lo, hi) covered by the union of `intervals`."""
    return sum((min(b, hi) - max(a, lo)).total_seconds() for a, b in merge(intervals) if a < hi and b > lo)


def interruption_window(at: datetime, tz: ZoneInfo) -> str:
    """PagerDuty's windows in the person's own time zone: sleep 22:00-08:00 every day; business
    08:00-18:00 Monday-Friday; off_hours the rest (18:00-22:00 Monday-Friday, 08:00-22:00 at
    weekends). Every local instant is in exactly one."""
    local = at.astimezone(tz)
    if local.hour >= 22 or local.hour < 8:
        return "sleep"
    if local.weekday() < 5 and local.hour < 18:
        return "business"
    return "off_hours"


def bursts(instants: list[datetime]) -> list[datetime]:
    """The first page of each burst: a page less than 60 s after the first page of the current
    burst joins it; a later one starts a new burst (so a steady page every 50 s is one burst
    per two pages, not one endless burst)."""
    firsts: list[datetime] = []
    for at in sorted(instants):
        if not firsts or at - firsts[-1] >= BURST:
            firsts.append(at)
    return firsts


def utc_days(lo: datetime, hi: datetime) -> list[date]:
    """UTC calendar days overlapping [lo, hi)."""
    if hi <= lo:
        return []
    first, last = lo.date(), (hi - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def stale_intervals(published: list[Published], sla: timedelta, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
    """Where in [lo, hi) the pipeline's data was stale (README "Watchdog"): between two
    publications the newest published day N is constant and the data is stale from
    `due_at(N + 1 day, sla)` on; before anything was published it is stale throughout."""
    out = []
    newest: date | None = None
    segment_start = lo
    for record in sorted(published, key=lambda p: p.at):
        if record.at > segment_start:
            out += _stale_part(newest, sla, segment_start, min(record.at, hi))
            segment_start = record.at
        newest = record.day if newest is None else max(newest, record.day)  # a re-run of an old day is not newer
        if segment_start >= hi:
            break
    if segment_start < hi:
        out += _stale_part(newest, sla, segment_start, hi)
    return out


def _stale_part(newest: date | None, sla: timedelta, a: datetime, b: datetime) -> list[tuple[datetime, datetime]]:
    if a >= b:
        return []
    if newest is None:
        return [(a, b)]
    stale_from = max(a, due_at(newest + DAY, sla))
    return [(stale_from, b)] if stale_from < b else []


def fresh_days(published: list[Published], sla: timedelta, lo: datetime, hi: datetime) -> dict[date, bool]:
    """Each UTC day overlapping [lo, hi): True when the data was never stale in its part of it."""
    stale = stale_intervals(published, sla, lo, hi)  # disjoint, in time order
    ends = [b for _, b in stale]
    out = {}
    for day in utc_days(lo, hi):
        a, b = max(day_start(day), lo), min(day_start(day) + DAY, hi)
        i = bisect_right(ends, a)  # the first stale interval ending after a
        out[day] = not (i < len(stale) and stale[i][0] < b)
    return out


# --- per pipeline --------------------------------------------------------------------------------

@dataclass
class _PipelineFacts:
    """What the totals pool from each pipeline (sums and raw samples, not rates of rates)."""

    runs: int
    succeeded: int
    finished: int
    days: int
    fresh: int
    tta: list[float]
    ttr: list[float]
    validations: int
    validations_passed: int
    checks: int
    checks_passed: int
    critical_intervals: list[tuple[datetime, datetime]]
    critical_resolved: int
    critical_in_time: int


def _by(records, key) -> dict:
    grouped = defaultdict(list)
    for record in records:
        grouped[key(record)].append(record)
    return grouped


def _severity(incident: Incident) -> str:
    return incident.severity or "unknown"


def _open_at(incident: Incident, at: datetime) -> bool:
    return incident.opened_at <= at and (incident.resolved_at is None or incident.resolved_at > at)


def _pipeline_kpis(pipeline, window: Window, cap: datetime, runs, published, incidents, dq_results, run_queued) -> tuple[dict, _PipelineFacts]:
    sla = pipeline.freshness_sla
    in_window = [r for r in runs if window.contains(r.queued_at)]
    succeeded = sum(r.state == "success" for r in in_window)
    finished = sum(r.state in ("success", "failed") for r in in_window)
    days = fresh_days(published, sla, window.start, cap)
    opened = [i for i in incidents if window.contains(i.opened_at)]
    by_severity: dict[str, int] = defaultdict(int)
    for incident in opened:
        by_severity[_severity(incident)] += 1
    # MTTA and MTTR: incidents resolved in the window (the definition); notices never page
    resolved = [i for i in incidents if i.resolved_at is not None and window.contains(i.resolved_at)
                and i.severity != NOTICE]
    tta = [(i.acknowledged_at - i.opened_at).total_seconds() for i in resolved if i.acknowledged_at is not None]
    ttr = [(i.resolved_at - i.opened_at).total_seconds() for i in resolved]
    # Data downtime: each incident's [detected-from, resolved) clipped to the window, where
    # detected-from is the data's due time (its run's queued_at + freshness SLA, the Deadline
    # Alert) when that came before the opening: time to detection + time to resolution.
    downtime = 0.0
    for incident in incidents:
        if incident.severity == NOTICE:
            continue
        start = incident.opened_at
        queued = run_queued.get((pipeline.id, incident.run_id)) if incident.run_id else None
        if queued is not None:
            start = min(start, queued + sla)
        end = incident.resolved_at or cap
        downtime += covered_seconds([(start, end)], window.start, cap)
    checked = [r for r in dq_results if window.contains(r.validated_at)]
    validations_passed = sum(r.success for r in checked)
    checks = sum(r.evaluated for r in checked)
    checks_passed = sum(r.passed_checks for r in checked)
    critical_intervals = [(i.opened_at, i.resolved_at or cap) for i in incidents if i.severity == CRITICAL]
    observed = (cap - window.start).total_seconds()
    uptime = None if observed <= 0 else 1 - covered_seconds(critical_intervals, window.start, cap) / observed
    critical_resolved = [i for i in resolved if i.severity == CRITICAL]
    # Still open at cap after 48 h: already missed the target, counted as a miss now.
    critical_overdue = [i for i in incidents if i.severity == CRITICAL and _open_at(i, cap)
                        and cap - i.opened_at >= CRITICAL_RESOLUTION]
    open_by_severity: dict[str, int] = defaultdict(int)
    for incident in incidents:
        if _open_at(incident, cap):
            open_by_severity[_severity(incident)] += 1
    last_run = max((r for r in runs if r.queued_at < cap), key=lambda r: r.queued_at, default=None)
    newest = max((p.day for p in published if p.at < cap), default=None)
    latest_dq = {}
    for result in sorted((r for r in dq_results if r.validated_at < cap), key=lambda r: r.validated_at):
        latest_dq[result.dataset] = result
    health = pipeline_health(last_run, newest, list(latest_dq.values()), dict(open_by_severity), now=cap, sla=sla)
    kpis = {
        "runs": len(in_window),
        "run_success_rate": ratio(succeeded, finished),
        "freshness_sla_attainment": ratio(sum(days.values()), len(days)),
        "deadline_misses": sum(i.kind == "deadline_miss" for i in opened),
        "incidents": len(opened),
        "incidents_by_severity": dict(sorted(by_severity.items())),
        "mtta_seconds": summary(tta),
        "mttr_seconds": summary(ttr),
        "data_downtime_hours": downtime / 3600,
        "dq_pass_rate": {"validations": ratio(validations_passed, len(checked)), "checks": ratio(checks_passed, checks)},
        "open_incidents": sum(open_by_severity.values()),
        "uptime": uptime,
        "health": health,
    }
    facts = _PipelineFacts(len(in_window), succeeded, finished, len(days), sum(days.values()), tta, ttr, len(checked),
                           validations_passed, checks, checks_passed, critical_intervals,
                           len(critical_resolved) + len(critical_overdue),
                           sum(1 for i in critical_resolved if i.resolved_at - i.opened_at < CRITICAL_RESOLUTION))
    return kpis, facts


# --- per person ----------------------------------------------------------------------------------

def _person_kpis(person, window: Window, cap: datetime, shifts, pages, acked, steps_by_incident, incidents_by_id) -> dict:
    hours = {key: 0.0 for key in ROLE_KEYS.values()}
    for shift in shifts:
        key = ROLE_KEYS.get(shift.role)
        if key is not None:
            hours[key] += covered_seconds([(shift.start, shift.end)], window.start, cap) / 3600
    tz = ZoneInfo(person.timezone)
    interruptions = {name: 0 for name in INTERRUPTION_WINDOWS}
    # Bursts are formed over every page given (a burst may begin just before the window);
    # an interruption belongs to the window its first page falls in.
    for first in bursts([p.at for p in pages]):
        if window.contains(first):
            interruptions[interruption_window(first, tz)] += 1
    acks = [i for i in acked if window.contains(i.acknowledged_at)]
    tta = [(i.acknowledged_at - i.opened_at).total_seconds() for i in acks if i.severity != NOTICE]
    escalated_past = 0
    for incident_id, steps in steps_by_incident.items():
        incident = incidents_by_id.get(incident_id)
        acknowledged = incident.acknowledged_at if incident else None
        for step, following in zip(steps, steps[1:]):
            # The step's wait ran out unacknowledged when the next step fired before any ack.
            timed_out = acknowledged is None or acknowledged > following.at
            if step.kind == "paged" and person.id in step.recipients and timed_out and window.contains(following.at):
                escalated_past += 1
    return {
        "oncall_hours": hours,
        "pages": sum(window.contains(p.at) for p in pages),
        "interruptions": interruptions,
        "acks": len(acks),
        "mtta_seconds": summary(tta),
        "escalated_past": escalated_past,
    }


# --- the API -------------------------------------------------------------------------------------

def _now(now: datetime | None) -> datetime:
    return utc(now) if now is not None else datetime.now(timezone.utc)


def _cap(window: Window, now: datetime) -> datetime:
    return max(window.start, min(window.end, now))


def _selected_pipelines(registry, pipeline: str | None) -> list[str]:
    if pipeline is None:
        return sorted(registry.pipelines)
    if pipeline not in registry.pipelines:
        raise ValueError(f"unknown pipeline {pipeline!r} (known: {', '.join(sorted(registry.pipelines))})")
    return [pipeline]


def compute_kpis(window: Window, history: History, *, registry, pipeline: str | None = None,
                 person: str | None = None, now: datetime | None = None) -> dict:
    """The KPI document (README "KPIs and health"): {"from", "to", "pipelines", "people", "totals"}.

    `pipeline` restricts the pipelines, the totals and the people's pages, acknowledgements
    and escalations to that pipeline's incidents; `person` restricts the people."""
    now = _now(now)
    cap = _cap(window, now)
    pipeline_ids = _selected_pipelines(registry, pipeline)
    if person is not None and person not in registry.people:
        raise ValueError(f"unknown person {person!r} (known: {', '.join(sorted(registry.people))})")
    selected = set(pipeline_ids)
    runs = _by((r for r in history.runs if r.pipeline_id in selected), lambda r: r.pipeline_id)
    published = _by((p for p in history.published if p.pipeline_id in selected), lambda p: p.pipeline_id)
    incidents = _by((i for i in history.incidents if i.pipeline_id in selected), lambda i: i.pipeline_id)
    dq_results = _by((r for r in history.dq_results if r.pipeline_id in selected), lambda r: r.pipeline_id)
    run_queued = {(r.pipeline_id, r.run_id): r.queued_at for r in history.runs}

    pipelines, facts = {}, []
    for pipeline_id in pipeline_ids:
        kpis, pipeline_facts = _pipeline_kpis(registry.pipelines[pipeline_id], window, cap, runs[pipeline_id],
                                              published[pipeline_id], incidents[pipeline_id], dq_results[pipeline_id],
                                              run_queued)
        pipelines[pipeline_id] = kpis
        facts.append(pipeline_facts)

    incidents_by_id = {i.id: i for i in history.incidents}

    def counted(incident_id) -> bool:
        # A page or step of an incident of another pipeline is left out when one is asked for.
        if pipeline is None:
            return True
        incident = incidents_by_id.get(incident_id)
        return incident is not None and incident.pipeline_id in selected

    pages = _by((p for p in history.pages if p.recipient in registry.people and counted(p.incident_id)),
                lambda p: p.recipient)
    acked = _by((i for i in incidents_by_id.values() if i.acknowledged_by and i.acknowledged_at and counted(i.id)),
                lambda i: i.acknowledged_by)
    steps = _by(sorted((s for s in history.steps if counted(s.incident_id)), key=lambda s: s.at),
                lambda s: s.incident_id)
    shifts = _by((s for s in history.shifts if s.start < cap and s.end > window.start), lambda s: s.person)
    if person is not None:
        people_ids = [person]
    else:
        active = set(shifts) | {r for r, ps in pages.items() if any(window.contains(p.at) for p in ps)}
        active |= {who for who, found in acked.items() if any(window.contains(i.acknowledged_at) for i in found)}
        active |= {who for s in steps.values() for step in s for who in step.recipients}
        people_ids = sorted(p for p in active if p in registry.people)
    people = {}
    for person_id in people_ids:
        steps_of = {incident_id: found for incident_id, found in steps.items()
                    if any(person_id in s.recipients for s in found)}
        kpis = _person_kpis(registry.people[person_id], window, cap, shifts.get(person_id, []), pages.get(person_id, []),
                            acked.get(person_id, []), steps_of, incidents_by_id)
        if person is not None or any((kpis["pages"], kpis["acks"], kpis["escalated_past"], *kpis["oncall_hours"].values())):
            people[person_id] = kpis

    totals = _totals(window, cap, pipelines, facts, history)
    return {"from": window.from_date.isoformat(), "to": window.to_date.isoformat(), "pipelines": pipelines,
            "people": people, "totals": totals}


def _totals(window: Window, cap: datetime, pipelines: dict, facts: list[_PipelineFacts], history: History) -> dict:
    by_severity: dict[str, int] = defaultdict(int)
    for kpis in pipelines.values():
        for severity, count in kpis["incidents_by_severity"].items():
            by_severity[severity] += count
    observed = (cap - window.start).total_seconds()
    critical = [interval for f in facts for interval in f.critical_intervals]
    uptime = None if observed <= 0 else 1 - covered_seconds(critical, window.start, cap) / observed
    freshness = ratio(sum(f.fresh for f in facts), sum(f.days for f in facts))
    months = [s for s in history.investor_snapshots if window.start < _month_end(s.month) <= window.end]
    values = {
        "uptime": uptime,
        "sla_compliance": freshness,
        "critical_resolved_within_48h": ratio(sum(f.critical_in_time for f in facts), sum(f.critical_resolved for f in facts)),
        "investor_completeness": ratio(sum(s.complete for s in months), len(months)),
    }
    targets = {name: {"target": target, "value": values[name],
                      "met": None if values[name] is None else values[name] >= target - 1e-12}
               for name, target in TARGETS.items()}
    return {
        "runs": sum(f.runs for f in facts),
        "run_success_rate": ratio(sum(f.succeeded for f in facts), sum(f.finished for f in facts)),
        "freshness_sla_attainment": freshness,
        "deadline_misses": sum(k["deadline_misses"] for k in pipelines.values()),
        "incidents": sum(k["incidents"] for k in pipelines.values()),
        "incidents_by_severity": dict(sorted(by_severity.items())),
        "mtta_seconds": summary([v for f in facts for v in f.tta]),
        "mttr_seconds": summary([v for f in facts for v in f.ttr]),
        "data_downtime_hours": sum(k["data_downtime_hours"] for k in pipelines.values()),
        "dq_pass_rate": {"validations": ratio(sum(f.validations_passed for f in facts), sum(f.validations for f in facts)),
                         "checks": ratio(sum(f.checks_passed for f in facts), sum(f.checks for f in facts))},
        "open_incidents": sum(k["open_incidents"] for k in pipelines.values()),
        "uptime": uptime,
        "targets": targets,
    }


def _month_end(month: date) -> datetime:
    """The instant a month's investor report period closes: midnight UTC on the next month's first."""
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return day_start(following)


# --- chart series --------------------------------------------------------------------------------

def daily_series(window: Window, history: History, *, registry, pipeline: str | None = None,
                 now: datetime | None = None) -> dict[str, list[dict]]:
    """Per pipeline and UTC day of the window: runs queued that day, their success rate (of
    finished runs) and whether the data met its freshness SLA all day (null for days not yet
    begun)."""
    now = _now(now)
    cap = _cap(window, now)
    published = _by(history.published, lambda p: p.pipeline_id)
    runs = _by((r for r in history.runs if window.contains(r.queued_at)), lambda r: r.pipeline_id)
    out = {}
    for pipeline_id in _selected_pipelines(registry, pipeline):
        sla = registry.pipelines[pipeline_id].freshness_sla
        fresh = fresh_days(published[pipeline_id], sla, window.start, cap)
        per_day = _by(runs[pipeline_id], lambda r: r.queued_at.date())
        series = []
        for day in utc_days(window.start, window.end):
            day_runs = per_day.get(day, [])
            finished = sum(r.state in ("success", "failed") for r in day_runs)
            series.append({"date": day.isoformat(), "runs": len(day_runs),
                           "success_rate": ratio(sum(r.state == "success" for r in day_runs), finished),
                           "fresh": fresh.get(day)})
        out[pipeline_id] = series
    return out


def weekly_series(window: Window, history: History, *, registry, pipeline: str | None = None) -> list[dict]:
    """Per ISO week (Monday 00:00 UTC) overlapping the window: incidents opened, and the median
    MTTA and MTTR of the (non-notice) incidents resolved that week, all within the window."""
    selected = set(_selected_pipelines(registry, pipeline))
    incidents = [i for i in history.incidents if i.pipeline_id in selected]
    first = window.start.date() - timedelta(days=window.start.weekday())
    out = []
    week = first
    while day_start(week) < window.end:
        lo, hi = max(window.start, day_start(week)), min(window.end, day_start(week) + 7 * DAY)
        resolved = [i for i in incidents if i.resolved_at is not None and lo <= i.resolved_at < hi and i.severity != NOTICE]
        tta = [(i.acknowledged_at - i.opened_at).total_seconds() for i in resolved if i.acknowledged_at is not None]
        ttr = [(i.resolved_at - i.opened_at).total_seconds() for i in resolved]
        out.append({"week_start": week.isoformat(), "mtta_median": statistics.median(tta) if tta else None,
                    "mttr_median": statistics.median(ttr) if ttr else None,
                    "incidents": sum(lo <= i.opened_at < hi for i in incidents)})
        week += 7 * DAY
    return out
