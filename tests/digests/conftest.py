"""Digest fixtures: KPI dicts of the KPI API's shape made by hand (`kpis`), and a real SMTP
receiver on loopback with the SMTP connection pointing at it."""

from __future__ import annotations

import copy
import logging
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from tests.escalation.receivers import SmtpReceiver

NEW_YORK = ZoneInfo("America/New_York")
PIPELINES = ("engagement", "executive_investor", "experiment_team", "growth", "profit")
logging.getLogger("mail.log").setLevel(logging.WARNING)
STATS_NONE = {"mean": None, "median": None, "p90": None, "p95": None}


def healthy_pipeline(**changes) -> dict:
    kpis = {"runs": 1, "run_success_rate": 1.0, "freshness_sla_attainment": 1.0, "deadline_misses": 0, "incidents": 0,
            "incidents_by_severity": {}, "mtta_seconds": dict(STATS_NONE), "mttr_seconds": dict(STATS_NONE),
            "data_downtime_hours": 0.0, "dq_pass_rate": {"validations": 1.0, "checks": 1.0}, "open_incidents": 0,
            "uptime": 1.0, "health": {"state": "healthy", "reasons": []}}
    kpis.update(changes)
    return kpis


def person(primary=0.0, secondary=0.0, watch=0.0, business=0, off_hours=0, sleep=0, pages=0) -> dict:
    return {"oncall_hours": {"primary": primary, "secondary": secondary, "watch": watch}, "pages": pages,
            "interruptions": {"business": business, "off_hours": off_hours, "sleep": sleep}, "acks": 0,
            "mtta_seconds": dict(STATS_NONE), "escalated_past": 0}


def kpi_document(start: date, end: date, pipelines: dict | None = None, people: dict | None = None, totals=None) -> dict:
    return {"from": start.isoformat(), "to": end.isoformat(),
            "pipelines": {p: copy.deepcopy((pipelines or {}).get(p) or healthy_pipeline()) for p in PIPELINES},
            "people": people or {}, "totals": totals or {"incidents": 0, "mtta_seconds": dict(STATS_NONE),
                                                         "mttr_seconds": dict(STATS_NONE), "targets": {}}}


def series(start_day: int, days: int, month: str = "2027-03", rate=1.0) -> list[dict]:
    return [{"date": f"{month}-{start_day + i:02d}", "runs": 1, "success_rate": rate, "fresh": True} for i in range(days)]


@pytest.fixture(scope="session")
def smtp_server():
    server = RawSmtpReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server, monkeypatch):
    for key, value in smtp_server.connection_env("smtp_default").items():
        monkeypatch.setenv(key, value)
    smtp_server.messages.clear()
    smtp_server.raw.clear()
    return smtp_server


def at_utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


class RawSmtpReceiver(SmtpReceiver):
    """The escalation tests' receiver, also keeping each message's raw bytes (MIME structure)."""

    def __init__(self, port: int | None = None):
        super().__init__(port)
        self.raw: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        self.raw.append(envelope.content)
        return answer
