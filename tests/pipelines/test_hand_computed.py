"""A hand-made landing fixture (a few accounts, two days) whose outputs were computed by hand.

Every record has the exact shape TechFlow's systems export (the brief's table): no event or
session ids, `salary_month` "YYYY-MM", `contract_duration` "N months", a `cost_breakdown`.

November 2026 has 30 days. Three accounts are billed in November:

| account | revenue | licenses | expenses | share of salaries (3000/3) |
|---|---|---|---|---|
| A1 | 6000 | 10 | 250 | 1000 |
| A2 | 2100 | 4  | 160 | 1000 |
| A3 | 900  | 0  | 100 | 1000 |

Monthly profit per account: A1 6000-250-1000 = 4750, A2 2100-160-1000 = 940, A3 900-100-1000 = -200.
Per day (/30): A1 158.333.., A2 31.333.., A3 -6.666..; unit profit A1 15.8333.., A2 7.8333.., A3 none
(zero subscribers). Month: revenue 9000, expenses 510, salaries 3000, profit 5490, 14 subscribers,
ledger 8910 (A3 recognised 810), so revenue is 90/8910 above the ledger.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from techflow_ops.pipelines import warehouse as wh
from techflow_ops.pipelines.steps import pipeline_order, run_pipeline

D1, D2 = date(2026, 11, 2), date(2026, 11, 3)  # a Monday and a Tuesday


def land(data_dir: Path, source: str, partition: str, lines: list, hour: int | None = None) -> None:
    if partition.count("-") == 1:
        path = data_dir / "landing" / source / f"month={partition}" / "part-000.jsonl"
    else:
        name = f"hour={hour:02d}.jsonl" if hour is not None else "part-000.jsonl"
        path = data_dir / "landing" / source / f"dt={partition}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for line in lines:
            handle.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


def revenue(account, tier, total, licenses):
    return {"account_id": account, "subscription_tier": tier, "monthly_revenue": total, "user_licenses": licenses,
            "additional_features": [], "feature_revenue": 0, "total_monthly_revenue": total,
            "billing_date": "2026-11-01", "payment_status": "Paid"}


def expense(account, cost):
    return {"account_id": account, "expense_category": "Infrastructure", "monthly_cost": cost,
            "cost_breakdown": {"cloud_services": cost - 10, "database_hosting": 10, "monitoring_tools": 0},
            "expense_date": "2026-11-30"}


def status(account, previous, new, day):
    return {"account_id": account, "previous_status": previous, "new_status": new, "change_date": day.isoformat(),
            "change_reason": "test", "sales_rep": "ana.sales", "contract_value": 0}


def licence(account, previous, new, day):
    return {"account_id": account, "previous_licenses": previous, "new_licenses": new, "change_date": day.isoformat(),
            "change_type": "Upgrade" if new > previous else "Downgrade", "additional_revenue": 0,
            "effective_date": day.isoformat()}


def click(user, account, ts, feature=None):
    return {"user_id": user, "account_id": account, "event_type": "feature_click" if feature else "page_view",
            "feature_name": feature, "timestamp": ts, "session_id": f"SESS_{user}", "page_url": "/analytics/dashboard",
            "user_agent": "Mozilla/5.0...", "ip_address": "192.168.1.100"}


def session(user, account, day, minutes):
    return {"user_id": user, "account_id": account, "session_start": f"{day}T09:00:00Z",
            "session_end": f"{day}T10:00:00Z", "total_active_time_minutes": minutes, "features_used": ["Dashboard"],
            "device_type": "Desktop"}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fixture_warehouse(request, tmp_path_factory):
    """The fixture's pipelines run on the embedded SQLite file and on PostgreSQL: the same SQL."""
    data_dir = tmp_path_factory.mktemp("hand")
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_warehouse_url")
    else:
        url = f"sqlite:///{data_dir / 'warehouse.db'}"
    land(data_dir, "revenue", "2026-11", [revenue("A1", "Professional", 6000, 10), revenue("A2", "Starter", 2100, 4),
                                          revenue("A3", "Enterprise", 900, 0)])
    land(data_dir, "ledger", "2026-11", [
        {"entry_id": f"GL-{a}", "account_id": a, "ledger_month": "2026-11-01", "recognized_revenue": v}
        for a, v in (("A1", 6000), ("A2", 2100), ("A3", 810))])
    land(data_dir, "expenses", "2026-11", [expense("A1", 250), expense("A2", 160), expense("A3", 100)])
    land(data_dir, "salaries", "2026-11", [
        {"team_id": t, "team_name": t, "monthly_salary_total": v, "headcount": 2, "cost_per_engineer": v / 2,
         "salary_month": "2026-11"} for t, v in (("de", 1800), ("fe", 1200))])

    land(data_dir, "account_status_changes", D1.isoformat(), [
        status("A4", None, "Trial", D1), status("A5", None, "Trial", D1), status("A6", "Trial", "Active", D1)])
    land(data_dir, "account_status_changes", D2.isoformat(), [
        status("A4", "Trial", "Active", D2), status("A6", "Active", "Churned", D2), status("A7", None, "Trial", D2)])
    land(data_dir, "license_changes", D1.isoformat(), [licence("A1", 10, 15, D1), licence("A2", 4, 3, D1)])
    land(data_dir, "license_changes", D2.isoformat(), [licence("A1", 15, 20, D2)])
    land(data_dir, "renewals", D1.isoformat(), [])
    land(data_dir, "renewals", D2.isoformat(), [{
        "account_id": "A2", "renewal_date": D2.isoformat(), "previous_contract_value": 1200,
        "new_contract_value": 1380, "renewal_type": "Expansion", "contract_duration": "12 months"}])

    for day in (D1, D2):
        for hour in range(24):
            land(data_dir, "click_events", day.isoformat(), [], hour=hour)
    land(data_dir, "click_events", D1.isoformat(), [
        click("u1", "A1", "2026-11-02T09:10:00Z", "Reports"), click("u1", "A1", "2026-11-02T09:20:00Z"),  # e1, e2
        '{"user_id": "broken", ',                                            # unparsable JSON
        click("u1", "A1", "soon"),                                           # wrong type
        {k: v for k, v in click("u2", "A1", "2026-11-02T09:30:00Z").items() if k != "user_id"},
    ], hour=9)
    land(data_dir, "click_events", D1.isoformat(), [
        click("u3", "A2", "2026-11-02T10:00:00Z", "Deals"),                  # e4
        click("u4", "A2", "2026-10-30T10:00:00Z"),                           # e5, > 48 h late
    ], hour=10)
    land(data_dir, "click_events", D1.isoformat(), [
        # e3, landed twice: the same user, session, second, type, feature and page
        click("u2", "A1", "2026-11-02T14:00:00Z", "Reports"), click("u2", "A1", "2026-11-02T14:00:00Z", "Reports"),
    ], hour=14)
    land(data_dir, "click_events", D2.isoformat(), [
        click("u1", "A1", "2026-11-03T11:00:00Z"), click("u3", "A2", "2026-11-03T11:05:00Z"),  # e6, e7
        click("u5", "A2", "2026-11-03T11:10:00Z"),                                               # e8
    ], hour=11)
    land(data_dir, "usage_sessions", D1.isoformat(), [session("u1", "A1", D1, 30), session("u2", "A1", D1, 20),
                                                      session("u3", "A2", D1, 10)])
    land(data_dir, "usage_sessions", D2.isoformat(), [session("u1", "A1", D2, 15), session("u3", "A2", D2, 5),
                                                      session("u5", "A2", D2, 25)])
    land(data_dir, "team_activity", D1.isoformat(), [{
        "account_id": "A1", "team_id": "TEAM_001", "date": D1.isoformat(), "active_users": 2,
        "total_session_time_hours": 0.8, "features_accessed": ["Reports"], "api_calls": 7, "reports_generated": 2}])
    land(data_dir, "team_activity", D2.isoformat(), [])

    engine = wh.get_engine(url)
    summaries = {}
    for day in (D1, D2):
        for pipeline_id in pipeline_order():
            summaries[(pipeline_id, day)] = run_pipeline(engine, pipeline_id, day, f"hand__{day}", data_dir)
    return engine, summaries, data_dir


def rows(engine, table, **where) -> list[dict]:
    query = select(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def test_unit_profit_per_account_and_day(fixture_warehouse):
    engine, _, _ = fixture_warehouse
    by_account = {r["account_id"]: r for r in rows(engine, wh.profit_daily_account, date=D1)}
    assert set(by_account) == {"A1", "A2", "A3"}
    assert by_account["A1"]["profit"] == pytest.approx(4750 / 30)
    assert by_account["A1"]["unit_profit"] == pytest.approx(4750 / 30 / 10)
    assert by_account["A2"]["profit"] == pytest.approx(940 / 30)
    assert by_account["A2"]["unit_profit"] == pytest.approx(940 / 30 / 4)
    assert by_account["A3"]["profit"] == pytest.approx(-200 / 30)
    assert by_account["A3"]["unit_profit"] is None and by_account["A3"]["zero_subscribers"] is True
    assert by_account["A1"]["zero_subscribers"] is False


def test_monthly_profit_and_ledger_reconciliation(fixture_warehouse):
    engine, _, _ = fixture_warehouse
    (month,) = rows(engine, wh.profit_monthly, month=date(2026, 11, 1))
    assert month["revenue"] == pytest.approx(9000)
    assert month["expenses"] == pytest.approx(510)
    assert month["salaries"] == pytest.approx(3000)
    assert month["profit"] == pytest.approx(5490)
    assert month["subscribers"] == 14
    assert month["unit_profit"] == pytest.approx(5490 / 14)
    assert month["ledger_revenue"] == pytest.approx(8910)
    assert month["revenue_vs_ledger"] == pytest.approx(90 / 8910)


def test_growth_counts(fixture_warehouse):
    engine, _, _ = fixture_warehouse
    (d1,) = rows(engine, wh.growth_daily, date=D1)
    (d2,) = rows(engine, wh.growth_daily, date=D2)
    assert (d1["new_accounts"], d1["converted"], d1["churned"]) == (2, 1, 0)
    assert (d1["upgraded"], d1["downgraded"], d1["licenses_added"], d1["licenses_removed"], d1["license_growth"]) == (1, 1, 5, 1, 4)
    assert (d1["active_accounts"], d1["trial_accounts"]) == (1, 2)   # A6 active; A4, A5 in trial
    assert (d2["new_accounts"], d2["converted"], d2["churned"]) == (1, 1, 1)
    assert (d2["upgraded"], d2["downgraded"], d2["license_growth"]) == (1, 0, 5)
    assert (d2["renewals"], d2["renewal_value_change"]) == (1, pytest.approx(180))
    assert (d2["active_accounts"], d2["trial_accounts"]) == (1, 2)   # A4 active; A5, A7 in trial; A6 churned
    (week,) = rows(engine, wh.growth_weekly, week_start=D1)
    assert (week["days"], week["new_accounts"], week["converted"], week["churned"], week["license_growth"]) == (2, 3, 2, 1, 9)
    assert week["active_accounts"] == 1
    (month,) = rows(engine, wh.growth_monthly, month=date(2026, 11, 1))
    assert (month["days"], month["upgraded"], month["downgraded"], month["renewals"]) == (2, 2, 1, 1)


def test_daily_active_users_and_engagement(fixture_warehouse):
    engine, _, _ = fixture_warehouse
    d1 = {r["account_id"]: r for r in rows(engine, wh.engagement_daily, date=D1)}
    # A1: u1, u2 (e1, e2, e3 - e3 landed twice); A2: u3 (u4's event is 72 h late and not counted).
    assert (d1["A1"]["daily_active_users"], d1["A1"]["events"]) == (2, 3)
    assert (d1["A2"]["daily_active_users"], d1["A2"]["events"]) == (1, 1)
    assert (d1["A1"]["sessions"], d1["A1"]["session_minutes"]) == (2, pytest.approx(50))
    assert (d1["A1"]["api_calls"], d1["A1"]["reports_generated"], d1["A1"]["features_used"]) == (7, 2, 1)
    d2 = {r["account_id"]: r for r in rows(engine, wh.engagement_daily, date=D2)}
    assert (d2["A1"]["daily_active_users"], d2["A2"]["daily_active_users"]) == (1, 2)
    (week,) = rows(engine, wh.engagement_weekly, week_start=D1)
    assert (week["days"], week["active_users"], week["events"]) == (2, 4, 7)   # u1, u2, u3, u5
    assert week["avg_daily_active_users"] == pytest.approx(3)
    assert week["session_minutes"] == pytest.approx(105)
    assert week["avg_session_minutes"] == pytest.approx(105 / 6)
    features = {r["feature_name"]: (r["events"], r["users"]) for r in rows(engine, wh.engagement_feature_daily, date=D1)}
    assert features == {"Reports": (2, 2), "Deals": (1, 1)}


def test_executive_and_investor_reports(fixture_warehouse):
    engine, _, _ = fixture_warehouse
    (week,) = rows(engine, wh.executive_weekly, week_start=D1)
    assert week["revenue"] == pytest.approx(2 * 9000 / 30)
    assert week["profit"] == pytest.approx(2 * 5490 / 30)
    assert (week["new_accounts"], week["converted"], week["churned"], week["active_users"]) == (3, 2, 1, 4)
    assert (week["profit_days"], week["growth_days"], week["engagement_days"]) == (2, 2, 2)
    (month,) = rows(engine, wh.investor_monthly, month=date(2026, 11, 1))
    assert (month["revenue"], month["profit"]) == (pytest.approx(9000), pytest.approx(5490))
    assert month["profit_margin"] == pytest.approx(5490 / 9000)
    assert month["unit_profit"] == pytest.approx(5490 / 14)


def test_experiment_dataset(fixture_warehouse):
    engine, _, _ = fixture_warehouse
    d1 = {r["account_id"]: r for r in rows(engine, wh.experiment_daily_unit, date=D1)}
    assert set(d1) == {"A1", "A2", "A3"}
    assert d1["A1"]["unit_profit"] == pytest.approx(4750 / 30 / 10)
    assert (d1["A1"]["license_change"], d1["A1"]["daily_active_users"], d1["A1"]["events"]) == (5, 2, 3)
    assert (d1["A2"]["license_change"], d1["A2"]["daily_active_users"]) == (-1, 1)
    assert d1["A3"]["unit_profit"] is None


def test_bad_rows_go_to_rejects_with_reason_and_raw_line(fixture_warehouse):
    engine, summaries, _ = fixture_warehouse
    rejected = rows(engine, wh.rejects, source="click_events")
    reasons = sorted(r["reason"].split(":")[0] for r in rejected)
    assert reasons == ["missing required field user_id", "unparsable JSON", "wrong type for timestamp"]
    assert {r["partition_date"] for r in rejected} == {D1}
    assert any(r["raw"] == '{"user_id": "broken", ' for r in rejected)
    wrong = next(r["reason"] for r in rejected if r["reason"].startswith("wrong type"))
    assert "'soon'" in wrong  # the value that broke the contract is named
    assert all(r["run_id"] == f"hand__{D1}" and "hour=09.jsonl:" in r["location"] for r in rejected)
    summary = summaries[("engagement", D1)].as_dict()
    assert summary["rows_rejected"] == 3
    assert summary["late_rows"] == 1
    clicks = next(load for load in summary["loads"] if load["source"] == "click_events")
    assert clicks["rows_loaded"] == 6  # e1, e2, e3 twice, e4, e5 (late): nothing dropped
    assert clicks["rows_loaded"] + clicks["rows_rejected"] == 9  # every landed line


def test_rerunning_a_date_is_idempotent(fixture_warehouse):
    engine, _, data_dir = fixture_warehouse

    def snapshot():
        with engine.connect() as conn:
            counts = {name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                      for name, table in {**wh.STAGING, **{n: t for n, (t, _) in wh.OUTPUTS.items()},
                                          "rejects": wh.rejects, "pipeline_runs": wh.pipeline_runs}.items()}
        return counts, rows(engine, wh.profit_monthly), rows(engine, wh.growth_weekly)

    before = snapshot()
    for pipeline_id in pipeline_order():
        run_pipeline(engine, pipeline_id, D1, f"hand__{D1}", data_dir)
        run_pipeline(engine, pipeline_id, D2, f"hand__{D2}", data_dir)
    assert snapshot() == before
