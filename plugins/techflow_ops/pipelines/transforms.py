"""The five pipelines' transforms: staging -> outputs, one date at a time, idempotent.

Every function takes a connection inside a transaction, a date and a run id, replaces the
output partitions that date touches (delete, then insert) and returns rows written per
table. SQL is SQLAlchemy Core (aggregations run in the database, the same statements on
SQLite and PostgreSQL); Python only combines the small aggregated results.

Definitions (the business owners' meaning of the numbers):
- profit per account and day = (monthly revenue - own monthly expenses - an equal share of
  cost-centre expenses - an equal share of salaries) / days in the month; the month's
  accounts are those billed that month. Unit profit = profit / subscribers (user
  licenses); NULL with `zero_subscribers` when there are none.
- growth: new = first status record (no previous status), converted = Trial -> Active,
  churned = -> Churned, upgraded/downgraded = license changes by type, license growth =
  licenses added - removed; active accounts = accounts whose latest status is Active.
- engagement: daily active users = distinct users with an on-time click event that day
  (events > 48 h late are kept in staging but not counted); events are distinct event ids.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from sqlalchemy import and_, case, delete, distinct, func, insert, select
from sqlalchemy.engine import Connection

from . import warehouse as wh


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _replace(conn: Connection, table_name: str, key: date, rows: list[dict], run_id: str) -> int:
    table, column = wh.OUTPUTS[table_name]
    conn.execute(delete(table).where(table.c[column] == key))
    if rows:
        conn.execute(insert(table), [{**row, column: key, "run_id": run_id} for row in rows])
    return len(rows)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


# --- profit ------------------------------------------------------------------------------

def transform_profit(conn: Connection, day: date, run_id: str) -> dict[str, int]:
    month = month_start(day)
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    r, e, s, lg = wh.stg_revenue, wh.stg_expenses, wh.stg_salaries, wh.stg_ledger
    revenue = conn.execute(
        select(r.c.account_id, func.max(r.c.subscription_tier), func.sum(r.c.total_monthly_revenue),
               func.max(r.c.user_licenses))
        .where(r.c.partition_date == month).group_by(r.c.account_id).order_by(r.c.account_id)
    ).all()
    own_expenses = dict(conn.execute(
        select(e.c.account_id, func.sum(e.c.monthly_cost)).where(e.c.partition_date == month).group_by(e.c.account_id)
    ).all())
    salaries = conn.execute(
        select(func.coalesce(func.sum(s.c.monthly_salary_total), 0.0)).where(s.c.partition_date == month)
    ).scalar_one()
    ledger = conn.execute(
        select(func.coalesce(func.sum(lg.c.recognized_revenue), 0.0)).where(lg.c.partition_date == month)
    ).scalar_one()

    accounts = len(revenue)
    daily_rows = []
    for account_id, tier, monthly_revenue, subscribers in revenue:
        monthly_expenses = own_expenses.get(account_id, 0.0)
        monthly_salaries = salaries / accounts
        profit = (monthly_revenue - monthly_expenses - monthly_salaries) / days_in_month
        daily_rows.append({
            "account_id": account_id, "subscription_tier": tier,
            "revenue": monthly_revenue / days_in_month, "expenses": monthly_expenses / days_in_month,
            "salaries": monthly_salaries / days_in_month, "profit": profit, "subscribers": subscribers,
            "unit_profit": profit / subscribers if subscribers > 0 else None, "zero_subscribers": subscribers <= 0,
        })
    total_revenue = sum(row[2] for row in revenue)
    total_expenses = sum(own_expenses.values())
    total_subscribers = sum(row[3] for row in revenue)
    monthly_profit = total_revenue - total_expenses - salaries
    monthly_rows = [{
        "accounts": accounts, "subscribers": total_subscribers, "revenue": total_revenue, "ledger_revenue": ledger,
        "revenue_vs_ledger": _ratio(total_revenue - ledger, ledger), "expenses": total_expenses, "salaries": salaries,
        "profit": monthly_profit, "unit_profit": _ratio(monthly_profit, total_subscribers),
    }] if accounts or total_expenses or salaries else []
    return {
        "profit_daily_account": _replace(conn, "profit_daily_account", day, daily_rows, run_id),
        "profit_monthly": _replace(conn, "profit_monthly", month, monthly_rows, run_id),
    }


# --- growth --------------------------------------------------------------------------------

def latest_status_query(as_of: date):
    """(account_id, status): each account's latest known status at the end of `as_of`."""
    sc = wh.stg_account_status_changes
    latest = (select(sc.c.account_id, func.max(sc.c.change_date).label("last_change"))
              .where(sc.c.change_date <= as_of).group_by(sc.c.account_id).subquery())
    return (select(sc.c.account_id, func.max(sc.c.new_status).label("status"))
            .join(latest, and_(sc.c.account_id == latest.c.account_id, sc.c.change_date == latest.c.last_change))
            .group_by(sc.c.account_id))


def _growth_day(conn: Connection, day: date) -> dict:
    sc, lc, rn = wh.stg_account_status_changes, wh.stg_license_changes, wh.stg_renewals
    status = conn.execute(
        select(
            func.count(distinct(case((sc.c.previous_status.is_(None), sc.c.account_id)))),
            func.count(distinct(case((and_(sc.c.previous_status == "Trial", sc.c.new_status == "Active"), sc.c.account_id)))),
            func.count(distinct(case((sc.c.new_status == "Churned", sc.c.account_id)))),
        ).where(sc.c.change_date == day)
    ).one()
    licenses = conn.execute(
        select(
            func.count(case((lc.c.change_type == "Upgrade", 1))),
            func.count(case((lc.c.change_type == "Downgrade", 1))),
            func.coalesce(func.sum(case((lc.c.new_licenses > lc.c.previous_licenses, lc.c.new_licenses - lc.c.previous_licenses), else_=0)), 0),
            func.coalesce(func.sum(case((lc.c.previous_licenses > lc.c.new_licenses, lc.c.previous_licenses - lc.c.new_licenses), else_=0)), 0),
        ).where(lc.c.change_date == day)
    ).one()
    renewals = conn.execute(
        select(func.count(), func.coalesce(func.sum(rn.c.new_contract_value - rn.c.previous_contract_value), 0.0))
        .where(rn.c.renewal_date == day)
    ).one()
    statuses = latest_status_query(day).subquery()
    active, trial = conn.execute(
        select(func.count(case((statuses.c.status == "Active", 1))), func.count(case((statuses.c.status == "Trial", 1))))
    ).one()
    return {
        "new_accounts": status[0], "converted": status[1], "churned": status[2],
        "upgraded": licenses[0], "downgraded": licenses[1], "licenses_added": int(licenses[2]),
        "licenses_removed": int(licenses[3]), "license_growth": int(licenses[2]) - int(licenses[3]),
        "renewals": renewals[0], "renewal_value_change": float(renewals[1]),
        "active_accounts": active, "trial_accounts": trial,
    }


_GROWTH_SUMS = ("new_accounts", "converted", "upgraded", "downgraded", "churned", "licenses_added",
                "licenses_removed", "license_growth", "renewals", "renewal_value_change")


def _growth_period(conn: Connection, first: date, last: date) -> list[dict]:
    g = wh.growth_daily
    sums = conn.execute(
        select(func.count(), *[func.coalesce(func.sum(g.c[name]), 0) for name in _GROWTH_SUMS])
        .where(g.c.date >= first, g.c.date <= last)
    ).one()
    if not sums[0]:
        return []
    active = conn.execute(
        select(g.c.active_accounts).where(g.c.date >= first, g.c.date <= last).order_by(g.c.date.desc()).limit(1)
    ).scalar_one()
    row = {"days": sums[0], "active_accounts": active}
    for name, value in zip(_GROWTH_SUMS, sums[1:]):
        row[name] = float(value) if name == "renewal_value_change" else int(value)
    return [row]


def transform_growth(conn: Connection, day: date, run_id: str) -> dict[str, int]:
    written = {"growth_daily": _replace(conn, "growth_daily", day, [_growth_day(conn, day)], run_id)}
    week = week_start(day)
    written["growth_weekly"] = _replace(conn, "growth_weekly", week, _growth_period(conn, week, week + timedelta(days=6)), run_id)
    month = month_start(day)
    written["growth_monthly"] = _replace(conn, "growth_monthly", month, _growth_period(conn, month, month_end(day)), run_id)
    return written


# --- engagement ----------------------------------------------------------------------------

def transform_engagement(conn: Connection, day: date, run_id: str) -> dict[str, int]:
    ce, us, ta = wh.stg_click_events, wh.stg_usage_sessions, wh.stg_team_activity
    on_time = and_(ce.c.event_date == day, ce.c.is_late.is_(False))
    per_account: dict[str, dict] = {}

    def account(account_id: str) -> dict:
        return per_account.setdefault(account_id, {
            "account_id": account_id, "daily_active_users": 0, "events": 0, "sessions": 0, "session_minutes": 0.0,
            "features_used": 0, "api_calls": 0, "reports_generated": 0,
        })

    for account_id, users, events, features in conn.execute(
        select(ce.c.account_id, func.count(distinct(ce.c.user_id)), func.count(distinct(ce.c.event_key)),
               func.count(distinct(ce.c.feature_name)))
        .where(on_time).group_by(ce.c.account_id)
    ):
        account(account_id).update(daily_active_users=users, events=events, features_used=features)
    for account_id, sessions, minutes in conn.execute(
        select(us.c.account_id, func.count(distinct(us.c.session_key)), func.sum(us.c.total_active_time_minutes))
        .where(us.c.partition_date == day).group_by(us.c.account_id)
    ):
        account(account_id).update(sessions=sessions, session_minutes=float(minutes or 0.0))
    for account_id, api_calls, reports in conn.execute(
        select(ta.c.account_id, func.sum(ta.c.api_calls), func.sum(ta.c.reports_generated))
        .where(ta.c.partition_date == day).group_by(ta.c.account_id)
    ):
        account(account_id).update(api_calls=int(api_calls or 0), reports_generated=int(reports or 0))
    features = [
        {"feature_name": name, "events": events, "users": users}
        for name, events, users in conn.execute(
            select(ce.c.feature_name, func.count(distinct(ce.c.event_key)), func.count(distinct(ce.c.user_id)))
            .where(on_time, ce.c.feature_name.is_not(None)).group_by(ce.c.feature_name).order_by(ce.c.feature_name)
        )
    ]
    written = {
        "engagement_daily": _replace(conn, "engagement_daily", day, [per_account[k] for k in sorted(per_account)], run_id),
        "engagement_feature_daily": _replace(conn, "engagement_feature_daily", day, features, run_id),
    }
    week = week_start(day)
    written["engagement_weekly"] = _replace(
        conn, "engagement_weekly", week, _engagement_period(conn, week, week + timedelta(days=6)), run_id)
    month = month_start(day)
    written["engagement_monthly"] = _replace(
        conn, "engagement_monthly", month, _engagement_period(conn, month, month_end(day)), run_id)
    return written


def _engagement_period(conn: Connection, first: date, last: date) -> list[dict]:
    ed, ce = wh.engagement_daily, wh.stg_click_events
    days, dau_sum, events, sessions, minutes = conn.execute(
        select(func.count(distinct(ed.c.date)), func.coalesce(func.sum(ed.c.daily_active_users), 0),
               func.coalesce(func.sum(ed.c.events), 0), func.coalesce(func.sum(ed.c.sessions), 0),
               func.coalesce(func.sum(ed.c.session_minutes), 0.0))
        .where(ed.c.date >= first, ed.c.date <= last)
    ).one()
    if not days:
        return []
    processed_days = select(ed.c.date).where(ed.c.date >= first, ed.c.date <= last).distinct()
    users, accounts = conn.execute(
        select(func.count(distinct(ce.c.user_id)), func.count(distinct(ce.c.account_id)))
        .where(ce.c.event_date.in_(processed_days), ce.c.is_late.is_(False))
    ).one()
    return [{
        "days": days, "active_users": users, "active_accounts": accounts, "avg_daily_active_users": dau_sum / days,
        "events": int(events), "session_minutes": float(minutes), "avg_session_minutes": _ratio(float(minutes), sessions),
    }]


# --- aggregated: executive / investor ------------------------------------------------------

def _executive(conn: Connection, first: date, last: date, engagement_row: dict | None) -> dict:
    p = wh.profit_daily_account
    revenue, profit, profit_days = conn.execute(
        select(func.coalesce(func.sum(p.c.revenue), 0.0), func.coalesce(func.sum(p.c.profit), 0.0),
               func.count(distinct(p.c.date)))
        .where(p.c.date >= first, p.c.date <= last)
    ).one()
    growth = _growth_period(conn, first, last)
    growth_row = growth[0] if growth else {}
    engagement_row = engagement_row or {}
    return {
        "revenue": float(revenue), "profit": float(profit), "profit_margin": _ratio(float(profit), float(revenue)),
        "new_accounts": growth_row.get("new_accounts", 0), "converted": growth_row.get("converted", 0),
        "churned": growth_row.get("churned", 0), "license_growth": growth_row.get("license_growth", 0),
        "active_accounts": growth_row.get("active_accounts", 0),
        "active_users": engagement_row.get("active_users", 0),
        "avg_daily_active_users": engagement_row.get("avg_daily_active_users", 0.0),
        "session_minutes": engagement_row.get("session_minutes", 0.0),
        "profit_days": profit_days, "growth_days": growth_row.get("days", 0),
        "engagement_days": engagement_row.get("days", 0),
    }


def _row(conn: Connection, table, column: str, key: date) -> dict | None:
    found = conn.execute(select(table).where(table.c[column] == key)).mappings().first()
    return dict(found) if found else None


def transform_executive(conn: Connection, day: date, run_id: str) -> dict[str, int]:
    week, month = week_start(day), month_start(day)
    weekly = _executive(conn, week, week + timedelta(days=6), _row(conn, wh.engagement_weekly, "week_start", week))
    monthly = _executive(conn, month, month_end(day), _row(conn, wh.engagement_monthly, "month", month))
    profit_month = _row(conn, wh.profit_monthly, "month", month)
    if profit_month:
        # Investors get the month's billed figures, not the sum of the days processed so far.
        monthly.update(revenue=profit_month["revenue"], profit=profit_month["profit"],
                       profit_margin=_ratio(profit_month["profit"], profit_month["revenue"]))
    monthly["unit_profit"] = profit_month["unit_profit"] if profit_month else None
    monthly["revenue_vs_ledger"] = profit_month["revenue_vs_ledger"] if profit_month else None
    return {
        "executive_weekly": _replace(conn, "executive_weekly", week, [weekly], run_id),
        "investor_monthly": _replace(conn, "investor_monthly", month, [monthly], run_id),
    }


# --- aggregated: experiment team -----------------------------------------------------------

def transform_experiment(conn: Connection, day: date, run_id: str) -> dict[str, int]:
    p, ed, lc = wh.profit_daily_account, wh.engagement_daily, wh.stg_license_changes
    rows: dict[str, dict] = {}

    def row(account_id: str) -> dict:
        return rows.setdefault(account_id, {
            "account_id": account_id, "subscription_tier": None, "status": None, "subscribers": None, "profit": None,
            "unit_profit": None, "license_change": 0, "daily_active_users": 0, "events": 0, "session_minutes": 0.0,
        })

    for account_id, tier, subscribers, profit, unit_profit in conn.execute(
        select(p.c.account_id, p.c.subscription_tier, p.c.subscribers, p.c.profit, p.c.unit_profit).where(p.c.date == day)
    ):
        row(account_id).update(subscription_tier=tier, subscribers=subscribers, profit=profit, unit_profit=unit_profit)
    for account_id, dau, events, minutes in conn.execute(
        select(ed.c.account_id, ed.c.daily_active_users, ed.c.events, ed.c.session_minutes).where(ed.c.date == day)
    ):
        row(account_id).update(daily_active_users=dau, events=events, session_minutes=minutes)
    for account_id, change in conn.execute(
        select(lc.c.account_id, func.sum(lc.c.new_licenses - lc.c.previous_licenses))
        .where(lc.c.change_date == day).group_by(lc.c.account_id)
    ):
        if account_id in rows:
            rows[account_id]["license_change"] = int(change)
    for account_id, status in conn.execute(latest_status_query(day)):
        if account_id in rows:
            rows[account_id]["status"] = status
    return {"experiment_daily_unit": _replace(conn, "experiment_daily_unit", day, [rows[k] for k in sorted(rows)], run_id)}


TRANSFORMS = {
    "profit": transform_profit,
    "growth": transform_growth,
    "engagement": transform_engagement,
    "executive_investor": transform_executive,
    "experiment_team": transform_experiment,
}

__all__ = ["TRANSFORMS", "latest_status_query", "month_end", "month_start", "week_start"]
