"""Composing digests from hand-made KPI dicts: who gets what, when the daily one is skipped, and
the figures each section prints (expected values worked out by hand in the comments)."""

from __future__ import annotations

from datetime import date

import pytest

from techflow_ops.digests import run
from techflow_ops.digests.compose import QUIET, DigestInputs

from .conftest import NEW_YORK, PIPELINES, at_utc, healthy_pipeline, kpi_document, person, series

MONDAY_0900_NY = at_utc(2027, 3, 15, 13)  # 09:00 EDT (UTC-4) on the Monday after the 2027-03-14 change


def daily_inputs(pipelines=None, **extra) -> DigestInputs:
    return DigestInputs("daily", MONDAY_0900_NY, NEW_YORK, date(2027, 3, 14), date(2027, 3, 14),
                        kpi_document(date(2027, 3, 14), date(2027, 3, 14), pipelines),
                        daily_series={p: series(1, 14) for p in PIPELINES}, **extra)


def by_audience(result) -> dict:
    return {d.audience.id: d for d in result.digests}


def test_daily_audiences_are_the_engineering_team_and_each_business_team_for_its_own_pipelines():
    digests = by_audience(run("daily", MONDAY_0900_NY, inputs=daily_inputs()))
    # teams.yaml / pipelines.yaml: business_owner_team of each pipeline, by email contact.
    assert {key: (d.audience.pipelines, [a for a, _ in d.audience.emails]) for key, d in digests.items()} == {
        "team:data_engineering": (("profit", "growth", "engagement", "executive_investor", "experiment_team"),
                                  ["data-eng@techflow.example.com"]),
        "team:finance": (("profit",), ["finance-data@techflow.example.com"]),
        "team:accounts": (("growth",), ["accounts-data@techflow.example.com"]),
        "team:software_frontend": (("engagement",), ["frontend@techflow.example.com"]),
        "team:business_analytics": (("executive_investor", "experiment_team"), ["business-analytics@techflow.example.com"]),
    }


def test_daily_digest_is_skipped_on_a_quiet_day():
    result = run("daily", MONDAY_0900_NY, inputs=daily_inputs())
    assert [d.skipped for d in result.digests] == [QUIET] * 5
    assert "Skipped: everything healthy and nothing happened." in result.digests[0].text()


@pytest.mark.parametrize("noise", [
    {"pipelines": {"profit": healthy_pipeline(health={"state": "warning", "reasons": ["latest DQ result warned"]})}},
    {"pipelines": {"profit": healthy_pipeline(deadline_misses=1)}},
    {"pipelines": {"profit": healthy_pipeline(runs=2, run_success_rate=0.5)}},
    {"open_incidents": [{"id": 3, "pipeline_id": "profit", "severity": "minor", "status": "acknowledged",
                         "opened_at": at_utc(2027, 3, 1), "owner": "priya", "runbook_url": None}]},
    {"dq_warnings": [{"pipeline_id": "profit", "dataset": "profit_daily_account", "summary": "x", "at": at_utc(2027, 3, 14)}]},
])
def test_anything_about_one_pipeline_makes_its_teams_daily_digest_go_and_leaves_the_others_skipped(noise):
    inputs = daily_inputs(noise.get("pipelines"), open_incidents=noise.get("open_incidents", []),
                          dq_warnings=noise.get("dq_warnings", []))
    skipped = {key: d.skipped for key, d in by_audience(run("daily", MONDAY_0900_NY, inputs=inputs)).items()}
    assert skipped == {"team:data_engineering": None, "team:finance": None, "team:accounts": QUIET,
                       "team:software_frontend": QUIET, "team:business_analytics": QUIET}


def test_daily_digest_figures_for_the_whole_team_and_for_the_profit_owners():
    pipelines = {"profit": healthy_pipeline(runs=4, run_success_rate=0.75, deadline_misses=1, incidents=1,
                                            health={"state": "degraded", "reasons": ["critical incident open"]})}
    incident = {"id": 41, "pipeline_id": "profit", "severity": "critical", "status": "open",
                "opened_at": at_utc(2027, 3, 14, 3), "owner": "priya",
                "runbook_url": "http://localhost:8080/techflow/runbooks/profit#data-quality"}
    inputs = daily_inputs(pipelines, open_incidents=[incident],
                          oncall=[{"day": "2027-03-15", "primary": "priya", "secondary": "marcus", "investor_watch": None}])
    digests = by_audience(run("daily", MONDAY_0900_NY, inputs=inputs))
    # Profit: 4 runs x (1 - 0.75) = 1 failed; the other four pipelines 1 run each: 8 runs in all.
    assert "8 runs, 1 failed, 1 deadline misses." in digests["team:data_engineering"].text()
    finance = digests["team:finance"].text()
    assert "4 runs, 1 failed, 1 deadline misses." in finance
    assert "Growth" not in finance  # the finance team sees its own pipeline only
    # Opened 2027-03-14 03:00Z, digest at 2027-03-15 13:00Z: 34 hours old.
    open_section = next(s for s in digests["team:finance"].sections if s.title == "Open incidents")
    assert open_section.rows == (("#41", "Profit", "critical", "open", "Priya Raman", "34.0 h", "runbook #41"),)
    html = digests["team:finance"].html()
    assert '<a href="http://localhost:8080/techflow/runbooks/profit#data-quality">runbook #41</a>' in html
    assert 'src="cid:run_success"' in html
    assert digests["team:data_engineering"].period == "2027-03-15"  # the local day of 13:00Z in New York
    on_call = next(s for s in digests["team:data_engineering"].sections if s.title == "On call")
    assert on_call.rows == (("2027-03-15", "Priya Raman", "Marcus Chen", "-"),)


def weekly_inputs(year_people: dict) -> DigestInputs:
    return DigestInputs(
        "weekly", MONDAY_0900_NY, NEW_YORK, date(2027, 3, 8), date(2027, 3, 14),
        kpi_document(date(2027, 3, 8), date(2027, 3, 14), people={"priya": person(business=2, off_hours=1, sleep=3, pages=7)},
                     totals={"incidents": 4, "mtta_seconds": {"mean": 700, "median": 600, "p90": 1500, "p95": 1800},
                             "mttr_seconds": {"mean": 9000, "median": 7200, "p90": 180000, "p95": 190000},
                             "targets": {"uptime": {"target": 0.999, "value": 0.998, "met": False}}}),
        year_people=year_people, fairness_target_hours=168,
        handoff={"at": "2027-03-15 10:00 EDT", "coming_on": {"primary": "marcus"}, "going_off": {"primary": "priya"}})


def test_weekly_digest_goes_to_the_engineering_team_with_response_times_and_the_fairness_verdict():
    year = {"priya": person(500, 300), "marcus": person(400, 420), "sofia": person(300, 300, 40)}
    (digest,) = run("weekly", MONDAY_0900_NY, inputs=weekly_inputs(year)).digests
    assert digest.audience.id == "team:data_engineering"
    sections = {s.title: s for s in digest.sections}
    # 600 s = 10 min; 1500 s = 25 min; 7200 s = 2.0 h; 180000 s = 50 h = 2.1 d (over 48 h, in days).
    assert sections["Response: MTTA and MTTR"].rows[0] == ("all pipelines", "4", "10 min", "25 min", "2.0 h", "2.1 d")
    assert sections["Interruptions per person"].rows == (("Priya Raman", "7", "2", "1", "3"),)
    # Totals 800, 820 and 640 hours: spread 820 - 640 = 180 h, over one weekly shift (168 h).
    load = sections["On-call load in 2027 so far"]
    assert load.sentences == ("Spread 180 h between the most and least loaded; fairness target at most 168 h "
                              "(one shift): missed.",)
    assert [row[-1] for row in load.rows] == ["800", "820", "640"]
    assert "primary: Priya Raman hands over to Marcus Chen." in sections["Hand-off"].sentences
    assert sections["Targets"].rows == (("uptime", "99.9\u00a0%", "99.8\u00a0%", "missed"),)
    assert [c.name for c in digest.charts] == ["run_success", "mtta_mttr", "interruptions", "oncall_load"]


def test_monthly_digest_to_management_and_the_cfo_with_capacity_against_the_team_average():
    people = {"priya": person(168, 168, 0, business=2, sleep=1), "marcus": person(0, 0, 0, business=1)}
    inputs = DigestInputs(
        "monthly", at_utc(2027, 3, 1, 14), NEW_YORK, date(2027, 2, 1), date(2027, 2, 28),
        kpi_document(date(2027, 2, 1), date(2027, 2, 28), people=people),
        readiness=[{"report": "investor_monthly", "period": "2027-02", "complete": True, "dq_status": "passed",
                    "signed_off": None, "ready": False}])
    digests = by_audience(run("monthly", at_utc(2027, 3, 1, 14), inputs=inputs))
    assert {key: [a for a, _ in d.audience.emails] for key, d in digests.items()} == {
        "team:management": ["data-leadership@techflow.example.com"], "person:helen": ["helen.okafor@techflow.example.com"]}
    sections = {s.title: s for s in digests["person:helen"].sections}
    assert sections["Investor report readiness"].rows == (("investor_monthly", "2027-02", "yes", "passed", "no", "not ready"),)
    # Hours 336 and 0: average 168, so +168 / -168; interruptions 3 and 1: average 2.0, so +1.0 / -1.0.
    assert sections["On-call capacity"].rows == (("Priya Raman", "336", "+168", "3", "+1.0", "1"),
                                                 ("Marcus Chen", "0", "-168", "1", "-1.0", "0"))
    assert sections["Month-end incidents"].sentences == ("None in the investor period (the month's last business days).",)


def test_an_unknown_kind_is_refused_naming_it():
    with pytest.raises(ValueError, match="digest kind must be one of \\['daily', 'weekly', 'monthly'\\], not 'hourly'"):
        run("hourly", MONDAY_0900_NY, inputs=daily_inputs())
