"""Every KPI of a small, fully known week against values computed by hand (the arithmetic is in
the comments). The week is 2027-03-08 .. 2027-03-14 UTC, i.e. [03-08 00:00Z, 03-15 00:00Z),
168 hours, 7 UTC days; `now` is after it, so the observed end is 03-15 00:00Z. It contains the
US DST change (2027-03-14 02:00 EST -> 03:00 EDT = 07:00Z; Chicago at 08:00Z), a page in
someone's sleep hours and two 60-second bursts."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from techflow_ops.kpi import (
    DqResult,
    History,
    Incident,
    InvestorSnapshot,
    Page,
    Published,
    Run,
    Shift,
    StepEvent,
    Window,
    compute_kpis,
    daily_series,
    pipeline_health,
    weekly_series,
)
from techflow_ops.registry import get_registry

UTC = timezone.utc
NOW = datetime(2027, 3, 20, tzinfo=UTC)
WINDOW = Window.from_dates(date(2027, 3, 8), date(2027, 3, 14), "UTC")


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 3) -> datetime:
    return datetime(2027, month, day, hour, minute, second, tzinfo=UTC)


def history() -> History:
    runs = [
        Run("profit", "r0", "success", at(7)),  # before the window: not counted
        Run("profit", "r1", "success", at(8)),
        Run("profit", "r2", "success", at(9)),
        Run("profit", "r3", "failed", at(10)),
        Run("profit", "r4", "success", at(11)),
        Run("profit", "r5", "success", at(14)),
    ]
    published = [  # profit: freshness_sla 24h, so day D is due at D+2 00:00Z and newest N goes stale at N+3 00:00Z
        Published("profit", date(2027, 3, 6), at(7, 1)),
        Published("profit", date(2027, 3, 7), at(8, 1)),
        Published("profit", date(2027, 3, 8), at(9, 1)),
        Published("profit", date(2027, 3, 10), at(12, 6)),
        Published("profit", date(2027, 3, 13), at(14, 1)),
    ]
    incidents = [
        # I0: opened before the window, resolved in it: in MTTA/MTTR, not in `incidents`
        Incident(100, "profit", "task_failure", "critical", at(7, 22), at(7, 22, 10), "priya", at(8, 2)),
        # I1: run r3 (queued 03-10 00:00, due 03-11 00:00: opened before due, so no detection time)
        Incident(101, "profit", "task_failure", "critical", at(10, 0, 30), at(10, 0, 40), "priya", at(10, 2, 30), "r3"),
        # I2: deadline miss of run r4 (queued 03-11 00:00, due 03-12 00:00), detected 1 h late
        Incident(102, "profit", "deadline_miss", "major", at(12, 1), at(12, 1, 20), "marcus", at(12, 6), "r4"),
        # I3: across the DST change: 00:00 EST to 09:00 EDT on the wall, 8 h in fact
        Incident(103, "profit", "dag_failure", "critical", at(14, 5), at(14, 12, 40), "priya", at(14, 13)),
        # I4: a warning's notice: counted, never timed
        Incident(104, "profit", "dq_warning", "notice", at(13, 10), None, None, at(13, 11)),
        # I5: still open at the end
        Incident(105, "profit", "task_failure", "minor", at(14, 20)),
        # I7: another pipeline's incident, acknowledged by priya in her business hours
        Incident(107, "engagement", "task_failure", "major", at(11, 15), at(11, 15, 5), "priya", at(11, 15, 30)),
    ]
    pages = [
        Page("priya", at(7, 22), 100),  # before the window
        Page("priya", at(10, 0, 30, 0), 101),  # Tue 19:30 EST: off hours; a burst ...
        Page("priya", at(10, 0, 30, 40), 101),  # ... 40 s after its first page: same burst
        Page("priya", at(10, 0, 31, 0), 101),  # 60 s after the first: a new burst
        Page("priya", at(10, 0, 31, 30), 101),  # 30 s after the new burst's first: joins it
        Page("marcus", at(12, 1), 102),  # Thu 19:00 CST: off hours
        Page("jonas", at(12, 10), 102),  # Fri 11:00 CET: business
        Page("priya", at(14, 5), 103),  # Sun 00:00 EST: sleep
        Page("marcus", at(14, 5, 15), 103),  # Sat 23:15 CST: sleep
        Page("priya", at(14, 12, 30), 103),  # Sun 08:30 EDT: off hours (07:30 in EST would be sleep)
        Page("jonas", at(14, 20), 105),  # Sun 21:00 CET: off hours
        Page("priya", at(14, 20, 30), 105),  # Sun 16:30 EDT: off hours
        Page("priya", at(11, 15), 107),  # Thu 10:00 EST: business (engagement)
        Page("team:finance", at(11, 15), 107),  # a team, not a person: no one's page
    ]
    steps = [
        StepEvent(100, at(7, 22), "paged", ("priya",)),
        StepEvent(101, at(10, 0, 30), "paged", ("priya",)),  # acknowledged at 00:40: not timed out
        StepEvent(102, at(12, 1), "paged", ("marcus",)),
        StepEvent(103, at(14, 5), "paged", ("priya",)),  # timed out at 05:15 (next step, no ack yet)
        StepEvent(103, at(14, 5, 15), "paged", ("marcus",)),  # timed out at 12:30 (ack only at 12:40)
        StepEvent(103, at(14, 12, 30), "paged", ("priya",)),  # acknowledged at 12:40: not timed out
        StepEvent(105, at(14, 20), "paged", ("jonas",)),  # timed out at 20:30
        StepEvent(105, at(14, 20, 30), "paged", ("priya",)),  # nothing after it: not timed out
        StepEvent(107, at(11, 15), "paged", ("priya",)),
    ]
    dq_results = [
        DqResult("profit", "profit_daily_account", at(9, 2), True, 10),
        DqResult("profit", "profit_daily_account", at(12, 7), True, 10, failed_warning=1),
        DqResult("profit", "profit_monthly", at(13, 9), False, 8, failed_critical=2, failed_warning=1),
        DqResult("profit", "profit_daily_account", at(14, 2), True, 10),
    ]
    shifts = [
        Shift("marcus", "primary", at(1, 15), at(8, 15), "schedule"),  # 03-08 00:00..15:00 in the window: 15 h
        Shift("priya", "primary", at(8, 15), at(15, 14), "schedule"),  # 03-08 15:00..03-15 00:00: 9 + 6 x 24 = 153 h
        Shift("marcus", "secondary", at(8, 15), at(15, 14), "schedule"),  # 153 h
        Shift("jonas", "investor_watch", at(1), at(10), "schedule"),  # 03-08 00:00..03-10 00:00: 48 h
    ]
    return History(runs=runs, published=published, incidents=incidents, pages=pages, steps=steps,
                   dq_results=dq_results, shifts=shifts)


@pytest.fixture(scope="module")
def registry():
    return get_registry()


def test_profit_pipeline_kpis(registry):
    kpis = compute_kpis(WINDOW, history(), registry=registry, pipeline="profit", now=NOW)
    assert (kpis["from"], kpis["to"]) == ("2027-03-08", "2027-03-14")
    assert list(kpis["pipelines"]) == ["profit"]
    profit = kpis["pipelines"]["profit"]
    assert profit["runs"] == 5  # r1..r5 (r0 was queued before the window)
    assert profit["run_success_rate"] == 4 / 5  # r3 failed
    # Stale stretches: 03-11 00:00..03-12 06:00 (newest 03-08, due of 03-09 = 03-11 00:00) and
    # 03-13 00:00..03-14 01:00 (newest 03-10). Fresh all day: 03-08, 03-09, 03-10 -> 3 of 7 days.
    assert profit["freshness_sla_attainment"] == 3 / 7
    assert profit["deadline_misses"] == 1  # I2
    assert profit["incidents"] == 5  # I1..I5 opened in the window
    assert profit["incidents_by_severity"] == {"critical": 2, "major": 1, "minor": 1, "notice": 1}
    # Resolved in the window, notices left out: I0, I1, I2, I3.
    # TTA: I0 600, I1 600, I2 1200, I3 12:40-05:00 = 27600 -> mean 30000/4 = 7500; median (600+1200)/2 = 900;
    # p90: rank ceil(0.9*4) = 4 -> 27600; p95: rank ceil(3.8) = 4 -> 27600.
    assert profit["mtta_seconds"] == {"mean": 7500, "median": 900, "p90": 27600, "p95": 27600}
    # TTR: I0 4 h = 14400, I1 2 h = 7200, I2 5 h = 18000, I3 8 h = 28800 (not the wall clock's 9 h)
    # sorted 7200, 14400, 18000, 28800 -> mean 68400/4 = 17100; median (14400+18000)/2 = 16200; p90 = p95 = 28800.
    assert profit["mttr_seconds"] == {"mean": 17100, "median": 16200, "p90": 28800, "p95": 28800}
    # Downtime in the window: I0 00:00..02:00 = 2 h; I1 2 h; I2 from its due time 00:00 to 06:00 = 1 h to
    # detect + 5 h to resolve = 6 h; I3 8 h; I5 20:00 to the window's end = 4 h; I4 (notice) none -> 22 h.
    assert profit["data_downtime_hours"] == 22
    # DQ: 3 of 4 validations without a critical failure; checks 10 + 9 + 5 + 10 = 34 passed of 38.
    assert profit["dq_pass_rate"] == {"validations": 3 / 4, "checks": 34 / 38}
    assert profit["open_incidents"] == 1  # I5
    # Critical open: I0 2 h + I1 2 h + I3 8 h = 12 h of 168 -> 156/168.
    assert profit["uptime"] == pytest.approx(156 / 168, abs=1e-12)
    # Last run r5 succeeded; newest day 03-13 is fresh until 03-16; profit_monthly's latest DQ failed
    # (degraded); I5 is a minor open incident (warning). Worst: degraded.
    assert profit["health"] == {"state": "degraded",
                                "reasons": ["data quality failed: profit_monthly", "open incidents: 1 minor"]}
    totals = kpis["totals"]
    for key in ("runs", "run_success_rate", "freshness_sla_attainment", "deadline_misses", "incidents",
                "incidents_by_severity", "mtta_seconds", "mttr_seconds", "data_downtime_hours", "dq_pass_rate",
                "open_incidents"):
        assert totals[key] == profit[key], key
    assert totals["uptime"] == pytest.approx(156 / 168, abs=1e-12)
    assert totals["targets"] == {
        "uptime": {"target": 0.999, "value": pytest.approx(156 / 168, abs=1e-12), "met": False},
        "sla_compliance": {"target": 1.0, "value": 3 / 7, "met": False},
        "critical_resolved_within_48h": {"target": 1.0, "value": 1.0, "met": True},  # I0 4 h, I1 2 h, I3 8 h
        "investor_completeness": {"target": 1.0, "value": None, "met": None},  # no month closes in the window
    }


def test_people_with_the_pipeline_filter(registry):
    people = compute_kpis(WINDOW, history(), registry=registry, pipeline="profit", now=NOW)["people"]
    assert sorted(people) == ["jonas", "marcus", "priya"]
    priya = people["priya"]
    assert priya["oncall_hours"] == {"primary": 153, "secondary": 0, "watch": 0}
    assert priya["pages"] == 7  # 4 for I1, 2 for I3, 1 for I5 (I0's was before the window, I7 is engagement's)
    # bursts: [00:30:00, 00:30:40] and [00:31:00, 00:31:30] (Tue 19:30 EST, off hours); 03-14 05:00Z Sun 00:00
    # EST sleep; 12:30Z Sun 08:30 EDT off hours (weekend); 20:30Z Sun 16:30 EDT off hours.
    assert priya["interruptions"] == {"business": 0, "off_hours": 4, "sleep": 1}
    assert priya["acks"] == 2  # I1, I3 (I0's ack was before the window)
    # TTA 600 (I1) and 27600 (I3): mean = median = 14100; p90 rank ceil(1.8) = 2 -> 27600
    assert priya["mtta_seconds"] == {"mean": 14100, "median": 14100, "p90": 27600, "p95": 27600}
    assert priya["escalated_past"] == 1  # I3's 05:00 step timed out at 05:15
    marcus = people["marcus"]
    assert marcus["oncall_hours"] == {"primary": 15, "secondary": 153, "watch": 0}
    assert marcus["pages"] == 2
    assert marcus["interruptions"] == {"business": 0, "off_hours": 1, "sleep": 1}  # Thu 19:00 CST, Sat 23:15 CST
    assert marcus["acks"] == 1
    assert marcus["mtta_seconds"] == {"mean": 1200, "median": 1200, "p90": 1200, "p95": 1200}
    assert marcus["escalated_past"] == 1  # I3's 05:15 step timed out at 12:30, before the 12:40 ack
    jonas = people["jonas"]
    assert jonas["oncall_hours"] == {"primary": 0, "secondary": 0, "watch": 48}
    assert jonas["pages"] == 2
    assert jonas["interruptions"] == {"business": 1, "off_hours": 1, "sleep": 0}  # Fri 11:00 CET, Sun 21:00 CET
    assert (jonas["acks"], jonas["escalated_past"]) == (0, 1)  # I5's 20:00 step timed out at 20:30
    assert jonas["mtta_seconds"] == {"mean": None, "median": None, "p90": None, "p95": None}


def test_all_pipelines_and_one_person(registry):
    kpis = compute_kpis(WINDOW, history(), registry=registry, person="priya", now=NOW)
    assert list(kpis["people"]) == ["priya"]
    priya = kpis["people"]["priya"]
    assert priya["pages"] == 8  # + I7's page
    assert priya["interruptions"] == {"business": 1, "off_hours": 4, "sleep": 1}  # Thu 10:00 EST
    assert priya["acks"] == 3
    assert set(kpis["pipelines"]) == set(registry.pipelines)
    engagement = kpis["pipelines"]["engagement"]
    assert engagement["freshness_sla_attainment"] == 0  # nothing ever published: stale every day
    assert engagement["mtta_seconds"]["median"] == 300 and engagement["mttr_seconds"]["median"] == 1800
    assert engagement["open_incidents"] == 0 and engagement["uptime"] == 1
    assert engagement["health"] == {"state": "unknown", "reasons": ["no run yet", "nothing published yet"]}
    totals = kpis["totals"]
    n = len(registry.pipelines)
    assert totals["freshness_sla_attainment"] == 3 / (7 * n)  # profit's 3 fresh days of 7 x n
    assert totals["incidents"] == 6
    assert totals["data_downtime_hours"] == 22.5  # + I7's 30 minutes
    # TTA pooled: 600, 600, 1200, 27600 and I7's 300 -> median 600
    assert totals["mtta_seconds"]["median"] == 600
    assert totals["uptime"] == pytest.approx(156 / 168, abs=1e-12)  # I7 is major, not critical


def test_a_person_without_activity_gets_zeros_and_unknown_names_raise(registry):
    kpis = compute_kpis(WINDOW, history(), registry=registry, person="grace", now=NOW)
    assert kpis["people"]["grace"]["pages"] == 0
    assert kpis["people"]["grace"]["interruptions"] == {"business": 0, "off_hours": 0, "sleep": 0}
    with pytest.raises(ValueError, match="unknown pipeline 'nope'"):
        compute_kpis(WINDOW, history(), registry=registry, pipeline="nope", now=NOW)
    with pytest.raises(ValueError, match="unknown person 'nobody'"):
        compute_kpis(WINDOW, history(), registry=registry, person="nobody", now=NOW)


def test_a_window_still_running_stops_at_now(registry):
    # now = 03-14 06:00Z: 6 days and 6 hours observed; I3 (critical) open since 05:00 -> 1 h of it
    now = at(14, 6)
    profit = compute_kpis(WINDOW, history(), registry=registry, pipeline="profit", now=now)["pipelines"]["profit"]
    # critical: I0 2 h + I1 2 h + I3 1 h = 5 h of 150 h
    assert profit["uptime"] == pytest.approx(1 - 5 / 150, abs=1e-12)
    # I3 open (critical) and I4? resolved 03-13 11:00: open = I3 only; last run r5 (queued 03-14 00:00) succeeded
    assert profit["open_incidents"] == 1
    assert profit["health"]["state"] == "degraded"
    assert "open incidents: 1 critical" in profit["health"]["reasons"]
    # 03-14 observed 00:00..06:00, stale 00:00..01:00 -> not met; 3 of 7 days as before
    assert profit["freshness_sla_attainment"] == 3 / 7


def test_investor_completeness_counts_months_closing_in_the_window(registry):
    window = Window.from_dates(date(2027, 2, 22), date(2027, 3, 7), "UTC")
    found = History(investor_snapshots=[InvestorSnapshot(date(2027, 1, 1), True),  # closes 02-01: before
                                        InvestorSnapshot(date(2027, 2, 1), False)])  # closes 03-01: inside
    targets = compute_kpis(window, found, registry=registry, now=NOW)["totals"]["targets"]
    assert targets["investor_completeness"] == {"target": 1.0, "value": 0.0, "met": False}


def test_window_from_local_dates_is_dst_correct():
    window = Window.from_dates(date(2027, 3, 14), date(2027, 3, 14), "America/New_York")
    assert window.start == at(14, 5) and window.end == at(15, 4)  # a 23-hour day
    assert (window.from_date, window.to_date) == (date(2027, 3, 14), date(2027, 3, 14))
    with pytest.raises(ValueError, match="from 2027-03-15 is after to 2027-03-14"):
        Window.from_dates(date(2027, 3, 15), date(2027, 3, 14), "UTC")


def test_daily_and_weekly_series(registry):
    series = daily_series(WINDOW, history(), registry=registry, pipeline="profit", now=NOW)["profit"]
    assert [d["date"] for d in series] == [f"2027-03-{d:02d}" for d in range(8, 15)]
    assert [d["runs"] for d in series] == [1, 1, 1, 1, 0, 0, 1]
    assert [d["success_rate"] for d in series] == [1, 1, 0, 1, None, None, 1]
    assert [d["fresh"] for d in series] == [True, True, True, False, False, False, False]
    weeks = weekly_series(WINDOW, history(), registry=registry, pipeline="profit")
    # 2027-03-08 is a Monday: one week. Same sets as the window's MTTA/MTTR medians.
    assert weeks == [{"week_start": "2027-03-08", "mtta_median": 900, "mttr_median": 16200, "incidents": 5}]


SLA = timedelta(hours=24)


@pytest.mark.parametrize(("last_run", "newest", "dq", "open_incidents", "expected"), [
    (Run("p", "r", "success", at(14)), date(2027, 3, 13), [], {}, ("healthy", [])),
    (None, date(2027, 3, 13), [], {}, ("unknown", ["no run yet"])),
    (Run("p", "r", "failed", at(14)), date(2027, 3, 13), [], {}, ("degraded", ["last run r failed"])),
    # queued 03-13 23:00, now 03-15 00:00: 25 h > 24 h SLA
    (Run("p", "r", "running", at(13, 23)), date(2027, 3, 13), [], {},
     ("warning", ["run r running for 25.0 h, longer than the freshness SLA"])),
    # newest 03-12: 03-13 was due at 03-15 00:00 = now -> stale
    (Run("p", "r", "success", at(14)), date(2027, 3, 12), [], {},
     ("degraded", ["data stale: newest day 2027-03-12, the next was due 2027-03-15T00:00:00+00:00"])),
    (Run("p", "r", "success", at(14)), date(2027, 3, 13), [DqResult("p", "d", at(14), True, 3, failed_warning=1)], {},
     ("warning", ["data quality warnings: d"])),
    (Run("p", "r", "success", at(14)), None, [], {"major": 1, "notice": 2},
     ("degraded", ["open incidents: 1 major, 2 notice", "nothing published yet"])),
    (Run("p", "r", "success", at(14)), None, [], {"notice": 1}, ("warning", ["open incidents: 1 notice", "nothing published yet"])),
])
def test_health_rules(last_run, newest, dq, open_incidents, expected):
    health = pipeline_health(last_run, newest, dq, open_incidents, now=at(15), sla=SLA)
    assert (health["state"], health["reasons"]) == expected
