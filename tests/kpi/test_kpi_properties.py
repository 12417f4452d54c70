"""KPIs over generated histories equal a deliberately naive recomputation.

Every generated instant of runs, publications, incidents and shifts lies on the whole hour, and
every freshness due time too (midnight + a whole-hour SLA), so anything that holds over time is
constant within an hour: the naive version samples the window hour by hour, where the real one
works with intervals and bisection. Pages lie on whole seconds and are grouped one by one."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from techflow_ops.kpi import DqResult, History, Incident, Page, Published, Run, Shift, StepEvent, Window, compute_kpis
from techflow_ops.registry import get_registry

UTC = timezone.utc
BASE = datetime(2027, 3, 1, tzinfo=UTC)  # the window is the 10 days 03-05 .. 03-14 (US DST on 03-14)
WINDOW = Window.from_dates(date(2027, 3, 5), date(2027, 3, 14), "UTC")
HOURS = 20 * 24  # instants from 03-01 to 03-21
PIPELINES = ("profit", "growth")  # freshness SLA 24 h and 7 days
PEOPLE = ("priya", "marcus", "jonas")  # New York, Chicago, Berlin
SEVERITIES = ("critical", "major", "minor", "notice")
REGISTRY = get_registry()


def hour(n: int) -> datetime:
    return BASE + timedelta(hours=n)


@st.composite
def histories(draw):
    runs = [Run(draw(st.sampled_from(PIPELINES)), f"run{i}", draw(st.sampled_from(("success", "failed", "running"))),
                hour(draw(st.integers(0, HOURS)))) for i in range(draw(st.integers(0, 30)))]
    published = []
    for _ in range(draw(st.integers(0, 25))):
        at = draw(st.integers(0, HOURS))
        published.append(Published(draw(st.sampled_from(PIPELINES)), (hour(at) - timedelta(days=draw(st.integers(0, 9)))).date(), hour(at)))
    incidents = []
    for i in range(draw(st.integers(0, 20))):
        opened = draw(st.integers(0, HOURS - 2))
        acked = draw(st.one_of(st.none(), st.integers(opened, HOURS)))
        resolved = draw(st.one_of(st.none(), st.integers(acked if acked is not None else opened, HOURS)))
        incidents.append(Incident(i, draw(st.sampled_from(PIPELINES)), "task_failure", draw(st.sampled_from(SEVERITIES)),
                                  hour(opened), None if acked is None else hour(acked),
                                  None if acked is None else draw(st.sampled_from(PEOPLE)),
                                  None if resolved is None else hour(resolved),
                                  draw(st.one_of(st.none(), st.sampled_from([r.run_id for r in runs] or [None])))))
    steps = []
    for incident in incidents:
        at = incident.opened_at
        paged = draw(st.integers(0, 3))
        for _ in range(paged):  # strictly later each: a step waits before the next
            steps.append(StepEvent(incident.id, at, "paged", (draw(st.sampled_from(PEOPLE)),)))
            at += timedelta(hours=draw(st.integers(1, 30)))
        if paged and draw(st.booleans()):  # the last step's wait ran out too
            steps.append(StepEvent(incident.id, at, "exhausted"))
    pages = [Page(draw(st.sampled_from(PEOPLE)), BASE + timedelta(seconds=draw(st.integers(0, HOURS * 3600))),
                  draw(st.sampled_from([i.id for i in incidents] or [None]))) for _ in range(draw(st.integers(0, 40)))]
    # bursts: a few pages seconds apart
    for _ in range(draw(st.integers(0, 5))):
        first = draw(st.integers(0, HOURS * 3600))
        who = draw(st.sampled_from(PEOPLE))
        pages += [Page(who, BASE + timedelta(seconds=first + draw(st.integers(0, 130))), None) for _ in range(3)]
    dq = [DqResult(draw(st.sampled_from(PIPELINES)), draw(st.sampled_from(("a", "b"))), hour(draw(st.integers(0, HOURS))),
                   draw(st.booleans()), 10, draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(draw(st.integers(0, 15)))]
    shifts = []
    for _ in range(draw(st.integers(0, 6))):
        start = draw(st.integers(0, HOURS - 1))
        shifts.append(Shift(draw(st.sampled_from(PEOPLE)), draw(st.sampled_from(("primary", "secondary", "investor_watch"))),
                            hour(start), hour(draw(st.integers(start + 1, HOURS))), "schedule"))
    now = hour(draw(st.integers(24 * 3, HOURS)))
    return History(runs=runs, published=published, incidents=incidents, pages=pages, steps=steps, dq_results=dq,
                   shifts=shifts), now


# --- the naive version -----------------------------------------------------------------------------

def naive_stats(values):
    if not values:
        return {"mean": None, "median": None, "p90": None, "p95": None}
    ordered = sorted(values)
    n = len(ordered)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2

    def pct(p):
        rank = 1
        while rank * 100 < p * n:  # the smallest rank with rank >= p% of n
            rank += 1
        return ordered[rank - 1]

    return {"mean": sum(ordered) / n, "median": median, "p90": pct(90), "p95": pct(95)}


def naive_hours(start, cap):
    h = start
    while h < cap:
        yield h
        h += timedelta(hours=1)


def naive_stale(published, sla, t):
    known = [p.day for p in published if p.at <= t]
    if not known:
        return True
    return t >= datetime.combine(max(known) + timedelta(days=2), datetime.min.time(), UTC) + sla


def naive_window_of(at, tz):
    local = at.astimezone(ZoneInfo(tz))
    if local.hour in (22, 23, 0, 1, 2, 3, 4, 5, 6, 7):
        return "sleep"
    if local.strftime("%a") in ("Sat", "Sun") or local.hour >= 18:
        return "off_hours"
    return "business"


def naive_pipeline(pid, history, cap):
    sla = REGISTRY.pipelines[pid].freshness_sla
    inside = lambda t: WINDOW.start <= t < WINDOW.end  # noqa: E731
    runs = [r for r in history.runs if r.pipeline_id == pid and inside(r.queued_at)]
    finished = [r for r in runs if r.state != "running"]
    pubs = [p for p in history.published if p.pipeline_id == pid]
    days = {}
    for h in naive_hours(WINDOW.start, cap):
        days[h.date()] = days.get(h.date(), True) and not naive_stale(pubs, sla, h)
    incidents = [i for i in history.incidents if i.pipeline_id == pid]
    opened = [i for i in incidents if inside(i.opened_at)]
    by_severity = {}
    for i in opened:
        by_severity[i.severity] = by_severity.get(i.severity, 0) + 1
    resolved = [i for i in incidents if i.resolved_at and inside(i.resolved_at) and i.severity != "notice"]
    queued = {r.run_id: r.queued_at for r in history.runs if r.pipeline_id == pid}
    downtime = 0
    for i in incidents:
        if i.severity == "notice":
            continue
        start = i.opened_at
        if i.run_id in queued:
            start = min(start, queued[i.run_id] + sla)
        end = i.resolved_at or cap
        downtime += sum(1 for h in naive_hours(WINDOW.start, cap) if start <= h < end)
    down_hours = sum(1 for h in naive_hours(WINDOW.start, cap)
                     if any(i.severity == "critical" and i.opened_at <= h < (i.resolved_at or cap) for i in incidents))
    observed = (cap - WINDOW.start) / timedelta(hours=1)
    checked = [r for r in history.dq_results if r.pipeline_id == pid and inside(r.validated_at)]
    return {
        "runs": len(runs),
        "run_success_rate": (sum(r.state == "success" for r in finished) / len(finished)) if finished else None,
        "freshness_sla_attainment": (sum(days.values()) / len(days)) if days else None,
        "incidents": len(opened),
        "incidents_by_severity": dict(sorted(by_severity.items())),
        "mtta_seconds": naive_stats([(i.acknowledged_at - i.opened_at).total_seconds() for i in resolved if i.acknowledged_at]),
        "mttr_seconds": naive_stats([(i.resolved_at - i.opened_at).total_seconds() for i in resolved]),
        "data_downtime_hours": downtime,
        "open_incidents": sum(1 for i in incidents if i.opened_at <= cap and (i.resolved_at is None or i.resolved_at > cap)),
        "uptime": 1 - down_hours / observed if observed else None,
        "dq_pass_rate": {
            "validations": (sum(r.success for r in checked) / len(checked)) if checked else None,
            "checks": (sum(r.evaluated - r.failed_critical - r.failed_warning for r in checked)
                       / sum(r.evaluated for r in checked)) if checked else None,
        },
    }


def naive_person(pid, history, cap):
    tz = REGISTRY.people[pid].timezone
    pages = sorted(p.at for p in history.pages if p.recipient == pid)
    firsts = []
    for at in pages:
        if not firsts or (at - firsts[-1]).total_seconds() >= 60:
            firsts.append(at)
    interruptions = {"business": 0, "off_hours": 0, "sleep": 0}
    for first in firsts:
        if WINDOW.start <= first < WINDOW.end:
            interruptions[naive_window_of(first, tz)] += 1
    hours = {"primary": 0, "secondary": 0, "watch": 0}
    for s in history.shifts:
        if s.person == pid:
            key = {"investor_watch": "watch"}.get(s.role, s.role)
            hours[key] += sum(1 for h in naive_hours(WINDOW.start, cap) if s.start <= h < s.end)
    acks = [i for i in history.incidents if i.acknowledged_by == pid and WINDOW.start <= i.acknowledged_at < WINDOW.end]
    escalated_past = 0
    for step in history.steps:
        if step.kind != "paged" or pid not in step.recipients:
            continue
        later = [s.at for s in history.steps if s.incident_id == step.incident_id and s.at > step.at]
        if not later:
            continue
        next_at = min(later)
        [incident] = [i for i in history.incidents if i.id == step.incident_id]
        acked_first = incident.acknowledged_at is not None and incident.acknowledged_at <= next_at
        if WINDOW.start <= next_at < WINDOW.end and not acked_first:
            escalated_past += 1
    return {"oncall_hours": hours, "pages": sum(1 for at in pages if WINDOW.start <= at < WINDOW.end),
            "interruptions": interruptions, "acks": len(acks), "escalated_past": escalated_past,
            "mtta_seconds": naive_stats([(i.acknowledged_at - i.opened_at).total_seconds() for i in acks if i.severity != "notice"])}


def close(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is b
    return a == pytest.approx(b, rel=1e-9, abs=1e-9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_kpis_equal_the_naive_recomputation(generated):
    history, now = generated
    cap = max(WINDOW.start, min(WINDOW.end, now))  # a window not begun yet is observed for no time
    kpis = compute_kpis(WINDOW, history, registry=REGISTRY, now=now)
    for pid in PIPELINES:
        expected = naive_pipeline(pid, history, cap)
        got = {key: kpis["pipelines"][pid][key] for key in expected}
        assert close(got, expected), (pid, got, expected)
    for pid in PEOPLE:
        expected = naive_person(pid, history, cap)
        active = expected["pages"] or expected["acks"] or expected["escalated_past"] or any(expected["oncall_hours"].values())
        if not active:
            assert pid not in kpis["people"]
            continue
        got = {key: kpis["people"][pid][key] for key in expected}
        assert close(got, expected), (pid, got, expected)
    # totals pool the pipelines' samples and counts
    runs = sum(kpis["pipelines"][p]["runs"] for p in kpis["pipelines"])
    assert kpis["totals"]["runs"] == runs
