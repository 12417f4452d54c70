"""The swap flow in headless Chromium against a real `airflow api-server`: the shift's holder
asks a colleague from the Calendar page, the colleague logs in and accepts, the calendar shows the
colleague on that shift, and both are told by email at a loopback SMTP server (the outbox rows
the swap queued, delivered here as the escalation engine's tick would)."""

from __future__ import annotations

import html
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from escalation.receivers import SmtpReceiver
from techflow_ops.escalation import outbox
from techflow_ops.escalation.policy import get_policy
from techflow_ops.escalation.store import outbox as outbox_table
from techflow_ops.oncall import clear_schedule_cache, get_schedule_service
from techflow_ops.oncall.model import iso
from techflow_ops.oncall.service import list_swaps, remove_override
from techflow_ops.opsdb import get_engine
from techflow_ops.registry import get_registry

from .conftest import WEB_USERS
from .test_browser import api_server, browser, screenshot_dir  # noqa: F401 - the fixtures: server, Chromium, screenshots
from .test_swaps_web import future_swap

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def log_in(browser, base: str, user: str, path: str):  # noqa: F811 - `browser` is the fixture's value
    page = browser.new_page(viewport={"width": 1400, "height": 900})  # a context of its own: its own login
    page.goto(f"{base}{path}")
    page.wait_for_url("**/auth/login**")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", WEB_USERS[user][1])
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path.split('?')[0]}**")
    page.goto(f"{base}{path}")  # the login brings back the path only, not its query
    return page


@pytest.fixture
def smtp(monkeypatch):
    receiver = SmtpReceiver().start()
    for key, value in receiver.connection_env("smtp_default").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield receiver
    receiver.stop()


def test_request_accept_calendar_updated_both_notified(api_server, browser, screenshot_dir, smtp):  # noqa: F811
    shift, colleague = future_swap(weeks_ahead=4)
    requester = shift.person
    people = get_registry().people
    calendar_path = f"/techflow/calendar?start={(shift.start - timedelta(days=1)).date()}"
    day = (shift.start + timedelta(days=2)).astimezone(get_schedule_service().rotation.tz).date().isoformat()
    request_id = None
    try:
        page = log_in(browser, api_server, requester, calendar_path)
        row = page.locator(f'[data-testid="swap-mine"] tr[data-role="primary"][data-start="{iso(shift.start)}"]')
        row.locator('select[name="with"]').select_option(colleague)
        row.locator('input[name="reason"]').fill("school play")
        row.locator('[data-testid="swap-request"]').click()
        page.wait_for_url("**swap_message=**")
        assert "requested" in page.locator('[data-testid="swap-message"]').inner_text()
        request_id = next(r.id for r in list_swaps() if r.requester == requester and r.start == shift.start
                          and r.status == "requested")
        page.close()

        page = log_in(browser, api_server, colleague, calendar_path)
        assert "requested" in page.locator(f'[data-testid="swap-requests"] tr[data-swap="{request_id}"]').inner_text()
        page.locator(f'[data-testid="swap-requests"] tr[data-swap="{request_id}"] [data-testid="swap-accept"]').click()
        page.wait_for_url("**swap_message=**")
        assert "(in effect)" in page.locator('[data-testid="swap-message"]').inner_text()
        page.goto(f"{api_server}{calendar_path}")
        primary_cell = page.locator(f'[data-testid="calendar"] tr[data-date="{day}"] td').nth(1).inner_text()
        assert people[colleague].name in primary_cell and "override" in primary_cell
        assert people[requester].name not in primary_cell
        page.locator('[data-testid="swaps"]').screenshot(path=screenshot_dir / "swaps.png")
        page.close()

        # The notices the swap queued, delivered as the engine's tick would.
        now = datetime.now(timezone.utc)
        with get_engine().connect() as connection:
            rows = list(connection.execute(select(outbox_table.c.id, outbox_table.c.recipient).where(
                outbox_table.c.idempotency_key.like(f"swap:%:{request_id}:applied:%"))))
        assert sorted(r.recipient for r in rows) == sorted([requester, colleague])
        notifications = get_policy().notifications
        for row_id, _ in rows:
            report = outbox.deliver_one(get_engine(), row_id, now, from_email=notifications.from_email,
                                        backoff=outbox.Backoff(timedelta(minutes=1), timedelta(hours=1)))
            assert report.delivered == 1, report
        for person in (requester, colleague):
            [mail] = smtp.to(people[person].email)
            assert f"swap #{request_id} is in effect" in mail.subject
            assert f"{people[requester].name} -> {people[colleague].name}" in html.unescape(mail.text)  # text or HTML part
    finally:
        if request_id is not None:
            remove_override(None, f"swap-{request_id}", by="test cleanup")
        clear_schedule_cache()
