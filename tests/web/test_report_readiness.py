"""The On-call page and its JSON show the investor and executive reports' readiness for the
current and previous month and week: frozen, complete, validated, signed off (by whom, when)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from tests.reports.helpers import publish_upstream, run_executive

from techflow_ops.pipelines import warehouse as wh
from techflow_ops.reports import snapshots

from .conftest import bearer


@pytest.fixture
def frozen_reports(tmp_path, monkeypatch, ops_db_url):
    """Relative to today: the previous month frozen, validated and signed off by Ravi; the
    previous week frozen with a failed validation; the current month and week not frozen."""
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("TECHFLOW_WAREHOUSE_URL", url)
    monkeypatch.delenv("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", raising=False)
    engine = wh.get_engine(url)
    today = datetime.now(timezone.utc).date()
    month = snapshots.Period.covering("monthly", today).previous()
    week = snapshots.Period.covering("weekly", today).previous()
    first = min(month.start, week.start)
    publish_upstream(engine, [first + timedelta(days=n) for n in range((today - first).days + 1)])
    dq = {"investor_monthly": "passed", "executive_weekly": "failed"}
    for day in sorted({week.end, month.end}):  # both before today: the current periods stay unfrozen
        run_executive(engine, day, dq=dq)
    snapshots.sign_off(engine, "monthly", month.key, "ravi")
    return month, week


def _row(html: str, report: str, period: str) -> str:
    match = re.search(rf'<tr data-report="{report}" data-period="{period}".*?</tr>', html, re.S)
    assert match, f"no readiness row for {report} {period}"
    return match.group(0)


def test_the_oncall_json_carries_each_periods_readiness(api_client, tokens, frozen_reports):
    month, week = frozen_reports
    body = api_client.get("/techflow/api/oncall/now", headers=bearer(tokens["viewer"])).json()
    readiness = body["report_readiness"]
    assert readiness["error"] is None
    periods = {(p["report"], p["period"]): p for p in readiness["periods"]}
    today = datetime.now(timezone.utc).date()
    assert set(periods) == {
        ("investor_monthly", snapshots.Period.covering("monthly", today).key), ("investor_monthly", month.key),
        ("executive_weekly", snapshots.Period.covering("weekly", today).key), ("executive_weekly", week.key)}
    previous_month = periods[("investor_monthly", month.key)]
    assert (previous_month["frozen"], previous_month["complete"], previous_month["validated"], previous_month["ready"]) == (
        True, True, True, True)
    assert previous_month["signed_off"]["by"] == "ravi" and previous_month["signed_off"]["name"] == "Ravi Patel"
    previous_week = periods[("executive_weekly", week.key)]
    assert (previous_week["frozen"], previous_week["complete"], previous_week["dq_status"]) == (True, True, "failed")
    assert previous_week["validated"] is False and previous_week["signed_off"] is None and previous_week["ready"] is False
    current_week = periods[("executive_weekly", snapshots.Period.covering("weekly", today).key)]
    assert current_week["frozen"] is False and current_week["ended"] is False


def test_the_oncall_page_shows_complete_validated_and_signed_off(api_client, tokens, frozen_reports):
    month, week = frozen_reports
    html = api_client.get("/techflow/oncall", headers=bearer(tokens["viewer"])).text
    assert 'data-testid="report-readiness"' in html
    signed = _row(html, "investor_monthly", month.key)
    assert 'data-ready="yes"' in signed and "version 1" in signed
    assert "complete" in signed and f"of {month.days} days" in signed
    assert re.search(r'data-col="signed-off">.*signed off</span> by Ravi Patel, \d{4}-\d{2}-\d{2} \d{2}:\d{2}', signed)
    failed = _row(html, "executive_weekly", week.key)
    assert 'data-ready="no"' in failed
    assert re.search(r'data-col="validated"><span class="badge dq-fail">failed</span>', failed)
    assert "awaiting Business Analytics" in failed


def test_an_unreachable_warehouse_costs_the_section_not_the_page(api_client, tokens, monkeypatch, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the warehouse folder should be")
    monkeypatch.setenv("TECHFLOW_WAREHOUSE_URL", f"sqlite:///{blocked / 'warehouse.db'}")
    monkeypatch.delenv("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", raising=False)
    response = api_client.get("/techflow/oncall", headers=bearer(tokens["viewer"]))
    assert response.status_code == 200
    assert 'data-testid="report-readiness-error"' in response.text and 'data-testid="primary"' in response.text
    body = api_client.get("/techflow/api/oncall/now", headers=bearer(tokens["viewer"])).json()
    assert body["report_readiness"]["periods"] == [] and "warehouse" in body["report_readiness"]["error"]
