"""Escalation fixtures: a fresh ops DB per test, real SMTP/HTTP receivers on loopback with
Airflow connections pointing at them, and a settable fake on-call schedule."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

from .receivers import HttpReceiver, SmtpReceiver

T0 = datetime(2026, 11, 10, 3, 0, tzinfo=timezone.utc)  # a Tuesday at 3 a.m. UTC, outside the investor period


@dataclass
class FakeOnCallNow:
    primary: str | None
    secondary: str | None
    in_investor_period: bool = False
    gaps: list = field(default_factory=list)


@dataclass
class FakeSchedule:
    """Implements the on-call service methods the engine uses; tests set who is on call."""

    primary: str | None = "sofia"
    secondary: str | None = "jonas"
    in_investor_period: bool = False
    handoff_list: list = field(default_factory=list)

    def now(self, at):
        return FakeOnCallNow(self.primary, self.secondary, self.in_investor_period)

    def handoffs(self, start, end):
        return [h for h in self.handoff_list if start <= h.at < end]


logging.getLogger("mail.log").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def smtp_server():
    server = SmtpReceiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def http_receiver():
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def connections(smtp_server, http_receiver, monkeypatch):
    env = {}
    env.update(smtp_server.connection_env("smtp_default"))
    for conn_id in ("slack_data_eng", "slack_finance", "slack_default"):
        env.update(http_receiver.slack_env(conn_id))
    env.update(http_receiver.pagerduty_env("pagerduty_infra"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    smtp_server.messages.clear()
    http_receiver.posts.clear()
    http_receiver.fail_next = 0
    return env


@pytest.fixture
def schedule() -> FakeSchedule:
    return FakeSchedule()


@pytest.fixture
def escalation(ops_db_url, connections, schedule):
    from techflow_ops.escalation.orchestrator import Escalation
    from techflow_ops.opsdb import get_engine

    return Escalation(engine=get_engine(ops_db_url), schedule=schedule)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
