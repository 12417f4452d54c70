"""`techflow-ops digest` on the real sources: an incident opened through the escalation code
shows in the daily digest read from a fresh ops DB and Airflow metadata DB; formats and errors."""

from __future__ import annotations

import json

import pytest

from techflow_ops.cli import main

from .conftest import at_utc

MONDAY_0900_NY = "2027-03-15T13:00:00Z"


@pytest.fixture
def opened_incident(ops_db_url, airflow_db, smtp):
    from tests.escalation.conftest import FakeSchedule

    from techflow_ops.escalation.orchestrator import Escalation
    from techflow_ops.opsdb import get_engine

    escalation = Escalation(engine=get_engine(ops_db_url), schedule=FakeSchedule())
    return escalation.report_failure(pipeline_id="growth", run_id="scheduled__2027-03-14", task_id="transform",
                                     error="boom", at=at_utc(2027, 3, 14, 15), deliver=False)


def test_daily_digest_from_the_real_sources_names_the_open_incident(opened_incident, capsys):
    assert main(["digest", "daily", "--at", MONDAY_0900_NY, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    digests = {d["audience"]["id"]: d for d in document["digests"]}
    # The incident is growth's: its business team (accounts) and the engineering team hear of it.
    assert digests["team:accounts"]["skipped"] is None
    assert digests["team:data_engineering"]["skipped"] is None
    open_rows = next(s["rows"] for s in digests["team:accounts"]["sections"] if s["title"] == "Open incidents")
    # Opened 2027-03-14 15:00Z, digest at 2027-03-15 13:00Z: 22 hours; owner: growth's primary (marcus).
    assert [row[:6] for row in open_rows] == [[f"#{opened_incident}", "Growth", open_rows[0][2], "open", "Marcus Chen", "22.0 h"]]


def test_text_and_html_formats_print_without_sending(opened_incident, capsys, smtp):
    assert main(["digest", "daily", "--at", MONDAY_0900_NY]) == 0
    text = capsys.readouterr().out
    assert "### to Accounts / Sales <accounts-data@techflow.example.com>" in text
    assert main(["digest", "daily", "--at", MONDAY_0900_NY, "--format", "html"]) == 0
    html = capsys.readouterr().out
    assert '<img src="data:image/png;base64,' in html  # printed HTML carries its images
    assert smtp.messages == []


def test_when_due_does_nothing_on_a_day_the_digest_is_not_due(ops_db_url, capsys):
    assert main(["digest", "weekly", "--at", "2027-03-16T13:00:00Z", "--when-due", "--send"]) == 0
    assert capsys.readouterr().out == "weekly digest not due: the weekly digest goes on Mondays; 2027-03-16 is a Tuesday\n"


def test_a_bad_instant_is_refused_naming_the_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["digest", "weekly", "--at", "next monday"])
    assert exit_info.value.code == 2
    assert "--at 'next monday' is not an ISO 8601 instant" in capsys.readouterr().err


@pytest.mark.parametrize(("kind", "at", "audiences"), [
    ("weekly", MONDAY_0900_NY, ["team:data_engineering"]),
    ("monthly", "2027-03-01T14:00:00Z", ["team:management", "person:helen"]),
])
def test_weekly_and_monthly_digests_from_the_real_sources(opened_incident, capsys, kind, at, audiences):
    assert main(["digest", kind, "--at", at, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [d["audience"]["id"] for d in document["digests"]] == audiences
    assert all(d["skipped"] is None for d in document["digests"])
