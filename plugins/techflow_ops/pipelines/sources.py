"""The landing sources, in a module of their own: DAG files need their names at parse time,
and `synthetic`, which also defines how they land, is too heavy to import there."""

from __future__ import annotations

from enum import Enum


class Source(str, Enum):
    revenue = "revenue"
    ledger = "ledger"
    expenses = "expenses"
    salaries = "salaries"
    account_status_changes = "account_status_changes"
    license_changes = "license_changes"
    renewals = "renewals"
    click_events = "click_events"
    usage_sessions = "usage_sessions"
    team_activity = "team_activity"

    @property
    def grain(self) -> str:
        if self in MONTHLY_SOURCES:
            return "monthly"
        return "hourly" if self is Source.click_events else "daily"


MONTHLY_SOURCES = frozenset({Source.revenue, Source.ledger, Source.expenses, Source.salaries})
