"""`techflow-ops reports sign-off` and `reports status`: the Business Analytics sign-off of the
latest snapshot version, refused with the field and value for every bad input (exit 2)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from techflow_ops.cli import main
from techflow_ops.pipelines import warehouse as wh
from techflow_ops.reports import snapshots

from .helpers import NOVEMBER, publish_upstream, run_executive


def techflow_ops(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def signoff_rows(engine) -> list[dict]:
    s = wh.report_signoffs
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(s).order_by(s.c.id)).mappings()]


def by_period(status: dict) -> dict[tuple[str, str], dict]:
    return {(p["report"], p["period"]): p for p in status["periods"]}


@pytest.fixture
def november(engine, monkeypatch):
    """November 2026 published upstream; the week of the 23rd and the month frozen, validated."""
    monkeypatch.delenv("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", raising=False)
    publish_upstream(engine, NOVEMBER)
    run_executive(engine, date(2026, 11, 29))
    run_executive(engine, date(2026, 11, 30))
    return engine


def test_business_analytics_signs_off_the_latest_version(november, capsys):
    engine = november
    code, out, err = techflow_ops(capsys, "reports", "sign-off", "monthly", "2026-11", "--user", "ravi", "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["already_signed_off"] is False
    assert result["signed_off"]["by"] == "ravi" and result["signed_off"]["name"] == "Ravi Patel"
    assert (result["snapshot"]["period"], result["snapshot"]["version"]) == ("2026-11", 1)
    [row] = signoff_rows(engine)
    assert (row["report"], row["period_start"], row["version"], row["signed_by"], row["team_id"]) == (
        "investor_monthly", date(2026, 11, 1), 1, "ravi", "business_analytics")

    code, out, _ = techflow_ops(capsys, "reports", "sign-off", "weekly", "2026-11-23", "--user", "mei")
    assert code == 0 and "executive_weekly 2026-11-23 version 1 signed off by Mei" in out

    # Signing again changes nothing: one sign-off per version.
    code, out, _ = techflow_ops(capsys, "reports", "sign-off", "monthly", "2026-11", "--user", "mei")
    assert code == 0 and "already signed off by Ravi Patel" in out
    assert len(signoff_rows(engine)) == 2

    code, out, _ = techflow_ops(capsys, "reports", "status", "--at", "2026-12-02", "--format", "json")
    assert code == 0
    periods = by_period(json.loads(out))
    month = periods[("investor_monthly", "2026-11")]
    assert month["frozen"] and month["complete"] and month["validated"] and month["ready"]
    assert month["signed_off"]["by"] == "ravi"
    assert abs(datetime.now(timezone.utc).replace(tzinfo=None) - datetime.fromisoformat(month["signed_off"]["at"])) < timedelta(
        minutes=5)
    assert periods[("executive_weekly", "2026-11-23")]["signed_off"]["by"] == "mei"
    # The current week (30 Nov - 6 Dec) is built by the 30 November run but not frozen yet.
    current_week = periods[("executive_weekly", "2026-11-30")]
    assert (current_week["frozen"], current_week["built"], current_week["ended"], current_week["ready"]) == (
        False, True, False, False)
    assert periods[("investor_monthly", "2026-12")]["built"] is False


def test_a_new_version_needs_a_new_sign_off(november, capsys):
    engine = november
    assert snapshots.sign_off(engine, "monthly", "2026-11", "ravi")["signed_off"]["version"] == 1
    run_executive(engine, date(2026, 11, 30))  # a re-run of the month end: version 2

    code, out, _ = techflow_ops(capsys, "reports", "status", "--at", "2026-12-01", "--format", "json")
    month = by_period(json.loads(out))[("investor_monthly", "2026-11")]
    assert (month["version"], month["versions"], month["signed_off"], month["ready"]) == (2, 2, None, False)

    assert snapshots.sign_off(engine, "monthly", "2026-11", "mei")["signed_off"]["version"] == 2
    assert [(r["version"], r["signed_by"]) for r in signoff_rows(engine)] == [(1, "ravi"), (2, "mei")]

    code, out, _ = techflow_ops(capsys, "reports", "status", "--at", "2026-12-01")
    line = next(line for line in out.splitlines() if line.startswith("investor_monthly  2026-11 "))
    assert "v2" in line and "mei" in line and line.rstrip().endswith("yes")


BAD_INPUTS = [
    # argv after `sign-off`, what stderr must name
    (("monthly", "2026-13", "--user", "ravi"), "period '2026-13'"),
    (("monthly", "Nov-2026", "--user", "ravi"), "period 'Nov-2026': not a month"),
    (("weekly", "2026-11-25", "--user", "ravi"), "period '2026-11-25': is a Wednesday; a week is named by its Monday (2026-11-23"),
    (("weekly", "23/11/2026", "--user", "ravi"), "period '23/11/2026': not a date"),
    (("monthly", "2026-10", "--user", "ravi"), "period '2026-10': no investor_monthly snapshot is frozen"),
    (("weekly", "2026-11-16", "--user", "ravi"), "period '2026-11-16': no executive_weekly snapshot is frozen"),
    (("monthly", "2026-11", "--user", "tom"), "user 'tom': is not in the Business Analytics team"),
    (("monthly", "2026-11", "--user", "priya"), "user 'priya': is not in the Business Analytics team"),
    (("monthly", "2026-11", "--user", "nobody"), "user 'nobody': is not a person in"),
]


def test_every_bad_input_is_refused_naming_field_and_value(november, capsys):
    for argv, named in BAD_INPUTS:
        code, out, err = techflow_ops(capsys, "reports", "sign-off", *argv)
        assert (code, out) == (2, ""), (argv, code, out, err)
        assert named in err, (argv, err)
    with pytest.raises(SystemExit) as exited:  # argparse refuses an unknown report itself
        main(["reports", "sign-off", "daily", "2026-11-20", "--user", "ravi"])
    assert exited.value.code == 2 and "invalid choice: 'daily'" in capsys.readouterr().err
    assert signoff_rows(november) == []
    # The ISO week names the same week as its Monday.
    assert snapshots.Period.parse("weekly", "2026-W48") == snapshots.Period.parse("weekly", "2026-11-23")


@pytest.mark.parametrize("dq, refusal", [
    ("failed", "failed its data-quality checks (profit_margin_finite)"),
    (None, "was frozen without a data-quality validation of its build"),
])
def test_a_snapshot_that_did_not_pass_its_checks_cannot_be_signed_off(engine, capsys, monkeypatch, dq, refusal):
    monkeypatch.delenv("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", raising=False)
    publish_upstream(engine, NOVEMBER)
    run_executive(engine, date(2026, 11, 30), dq=dq)
    code, out, err = techflow_ops(capsys, "reports", "sign-off", "monthly", "2026-11", "--user", "ravi")
    assert code == 2 and out == ""
    assert "snapshot 'investor_monthly 2026-11 version 1': " + refusal in err
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(wh.report_signoffs)).scalar_one() == 0

    # Fixed and re-run (validated this time): the new version can be signed off.
    run_executive(engine, date(2026, 11, 30), dq="passed")
    code, out, err = techflow_ops(capsys, "reports", "sign-off", "monthly", "2026-11", "--user", "ravi")
    assert code == 0 and "version 2 signed off by Ravi Patel" in out, err
