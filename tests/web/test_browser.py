"""A real `airflow api-server` on loopback and headless Chromium: log in, see who is on call,
acknowledge an incident, see it acknowledged; and the embedded default's whole loop: a failure
pages the on-call person through the local inbox, who opens the page in the Inbox and
acknowledges with its link; the Health page's charts and tables. Saves a screenshot of every page.

Screenshots go to $TECHFLOW_SCREENSHOT_DIR when set (point it at docs/screenshots to refresh
the README's pictures), else to the test's temp folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from escalation.receivers import free_port  # the loopback helpers the test areas share
from techflow_ops.failures import KafkaOutage
from techflow_ops.oncall import get_schedule_service
from techflow_ops.registry import get_registry

from .conftest import VENV_BIN_DIR, WEB_USERS, open_incident, record_dag_run
from .test_inbox_page import catcher  # noqa: F401 - the fixture: the local inbox on the web tests' ops DB

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SERVER_START_TIMEOUT_S = 120


def _wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"airflow api-server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"airflow api-server not up after {SERVER_START_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def api_server(web_env, session_dir):
    # The project's DAGs in the metadata DB (serialized, as the dag-processor leaves them), so
    # the Airflow UI can show its DAG pages with the plugin's per-DAG tab.
    subprocess.run([str(VENV_BIN_DIR / "airflow"), "dags", "reserialize"], check=True, capture_output=True,
                   env={**os.environ, **web_env})
    port = free_port()
    log = session_dir / "api-server.log"
    env = {**os.environ, **web_env, "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(VENV_BIN_DIR / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/api/v2/monitor/health", process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory) -> Path:
    target = Path(os.environ.get("TECHFLOW_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    target.mkdir(parents=True, exist_ok=True)
    return target


def test_log_in_see_who_is_on_call_and_acknowledge(api_server, browser, screenshot_dir):
    now = datetime.now(timezone.utc)
    record_dag_run("profit", f"scheduled__{now:%Y%m%d}", "success", now - timedelta(hours=3))
    record_dag_run("growth", f"scheduled__{now:%Y%m%d}", "failed", now - timedelta(hours=2))
    open_incident("KafkaException: no click events for 45 minutes", pipeline_id="engagement", task_id="consume_events",
                  failure_class="kafka_outage")
    incident_id = open_incident("ValueError: revenue differs from the ledger by 3.2 % (tolerance 1 %)",
                                task_id="reconcile_revenue", failure_class="data_quality")
    expected_primary = get_registry().people[get_schedule_service().now(now).primary].name

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{api_server}/techflow/oncall")
    page.wait_for_url("**/auth/login**")  # no login: Airflow's own login page
    user, (_, password) = "editor", WEB_USERS["editor"]
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/techflow/oncall")
    assert page.locator('[data-testid="primary"] .person-name').inner_text() == expected_primary
    page.screenshot(path=screenshot_dir / "oncall.png", full_page=True)

    # The same page inside the Airflow UI, from the "On-call" navigation entry.
    page.goto(f"{api_server}/plugin/techflow-oncall")
    frame = page.frame_locator("iframe").first
    assert frame.locator('[data-testid="primary"] .person-name').inner_text(timeout=30_000) == expected_primary
    page.wait_for_timeout(500)
    page.screenshot(path=screenshot_dir / "oncall-in-airflow.png")

    page.goto(f"{api_server}/techflow/incidents/{incident_id}")
    assert page.locator('[data-testid="incident-status"]').inner_text() == "open"
    page.screenshot(path=screenshot_dir / "incident-open.png", full_page=True)
    page.click('[data-testid="acknowledge"]')
    page.wait_for_url(f"**/techflow/incidents/{incident_id}")
    assert page.locator('[data-testid="incident-status"]').inner_text() == "acknowledged"
    assert page.locator('[data-testid="acknowledged-by"]').inner_text().startswith(f"Acknowledged by {user}")
    assert user in page.locator('[data-testid="timeline"]').inner_text()
    page.screenshot(path=screenshot_dir / "incident-acknowledged.png", full_page=True)

    # The per-DAG tab inside Airflow's own DAG page.
    page.goto(f"{api_server}/dags/profit/plugin/techflow-dag")
    frame = page.frame_locator("iframe").first
    assert frame.locator("main > h1").inner_text(timeout=30_000) == "profit: ownership"
    assert get_registry().people[get_registry().pipelines["profit"].owners.primary].name in frame.locator("main").inner_text()
    page.wait_for_timeout(500)
    page.screenshot(path=screenshot_dir / "dag-tab-in-airflow.png")

    # The Health page: KPIs of the last 28 days, each chart an inline SVG beside its table.
    page.goto(f"{api_server}/techflow/oncall")
    page.click('nav a[href="/techflow/health"]')
    page.wait_for_url("**/techflow/health")
    chart = page.locator('[data-testid="chart-daily"] svg')
    assert chart.is_visible() and chart.bounding_box()["height"] > 50
    assert chart.get_attribute("role") == "img" and "Run success and freshness" in chart.get_attribute("aria-label")
    table = page.locator('[data-testid="health-pipelines"]')
    assert table.is_visible()
    assert table.locator('tr[data-pipeline="profit"] td[data-col="runs"]').inner_text().strip().isdigit()
    assert page.locator('[data-testid="chart-load"] svg').is_visible() and page.locator('[data-testid="load-table"]').is_visible()
    # Not health.png: that one (README) shows a realistic year, made by scripts/screenshot_health.py.
    page.screenshot(path=screenshot_dir / "health-browser-test.png", full_page=True)
    # ... and inside the Airflow UI, from its "Pipeline health" navigation entry.
    page.goto(f"{api_server}/plugin/techflow-health")
    frame = page.frame_locator("iframe").first
    frame.locator('[data-testid="chart-daily"] svg').wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(500)
    page.screenshot(path=screenshot_dir / "health-in-airflow.png")

    for name, path in (
        ("calendar", "/techflow/calendar"),
        ("ownership", "/techflow/ownership"),
        ("incidents", "/techflow/incidents"),
        ("fairness", "/techflow/fairness"),
        ("runbook", "/techflow/runbooks/profit"),
        ("dag-view", "/techflow/dags/engagement"),
        ("feeds", "/techflow/feeds"),
    ):
        response = page.goto(f"{api_server}{path}")
        assert response.status == 200, path
        page.screenshot(path=screenshot_dir / f"{name}.png", full_page=True)
    page.close()


def test_the_on_call_person_acknowledges_from_the_page_in_the_inbox(api_server, browser, screenshot_dir, catcher,  # noqa: F811
                                                                     monkeypatch):
    """The embedded default's loop: a failure pages the on-call primary for real (Airflow's
    providers -> the local inbox, in the ops DB the api-server reads), and in the browser a
    person opens the page in the Inbox, clicks its Acknowledge link and confirms."""
    from uuid import uuid4

    from techflow_ops import escalation

    # Links in pages point at this api-server; it verifies them with the key both processes
    # read from AIRFLOW_HOME.
    monkeypatch.setenv("TECHFLOW_AIRFLOW_BASE_URL", api_server)
    primary_id = get_schedule_service().now(datetime.now(timezone.utc)).primary
    primary = get_registry().people[primary_id]
    # In a thread of its own, as in a task: Playwright's sync API keeps an event loop running in
    # this one, where the PagerDuty hook's asyncio.run() refuses to run.
    with ThreadPoolExecutor(1) as pool:
        incident_id = pool.submit(
            escalation.report_failure, pipeline_id="engagement", run_id=f"manual__{uuid4().hex[:8]}",
            task_id="consume_events", exception=KafkaOutage("no click events from topic clicks for 45 minutes"),
        ).result()
    sent = escalation.get_incident(incident_id).notifications
    assert sent and all(n["status"] == "delivered" for n in sent), sent

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{api_server}/techflow/oncall")
    page.wait_for_url("**/auth/login**")
    user, (_, password) = "viewer", WEB_USERS["viewer"]  # reading the Inbox needs no edit rights
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/techflow/oncall")

    page.click('nav a[href="/techflow/inbox"]')
    page.wait_for_url("**/techflow/inbox")
    mail = (page.locator('[data-testid="inbox"] tr[data-channel="email"]')
            .filter(has_text=primary.email).filter(has=page.locator(f'a[href="/techflow/incidents/{incident_id}"]')))
    assert mail.count() == 1
    mail.locator('[data-testid="open-message"]').click()
    body = mail.locator('[data-testid="message-body"]')
    assert body.is_visible() and f"Incident #{incident_id} - " in body.inner_text()
    acknowledge = body.locator(f'a[href^="{api_server}/techflow/act/{incident_id}/{primary_id}/acknowledge?t="]')
    assert acknowledge.count() == 1 and acknowledge.get_attribute("rel") == "noopener noreferrer"
    assert body.locator(f'a[href^="{api_server}/techflow/act/{incident_id}/{primary_id}/resolve?t="]').count() == 1
    page.screenshot(path=screenshot_dir / "inbox.png", full_page=True)

    acknowledge.click()
    page.wait_for_url(re.compile(rf"/techflow/act/{incident_id}/{primary_id}/acknowledge\?t="))
    confirm = page.locator('[data-testid="confirm-acknowledge"]')
    assert confirm.is_visible() and primary.name in page.locator("main").inner_text()
    assert escalation.get_incident(incident_id).status == "open"  # opening the link changed nothing
    page.screenshot(path=screenshot_dir / "ack-link-confirm.png", full_page=True)

    confirm.click()
    done = page.locator('[data-testid="link-done"]')
    assert done.inner_text().startswith(f"Acknowledged by {primary.name} via link.")
    page.click(f'a[href="{api_server}/techflow/incidents/{incident_id}"]')
    page.wait_for_url(f"**/techflow/incidents/{incident_id}")
    assert page.locator('[data-testid="incident-status"]').inner_text() == "acknowledged"
    assert page.locator('[data-testid="acknowledged-by"]').inner_text().startswith(f"Acknowledged by {primary_id} at ")
    timeline = page.locator('[data-testid="timeline"] tbody tr').filter(has_text=f"acknowledged by {primary_id} via link")
    assert timeline.count() == 1 and timeline.locator("td").nth(2).inner_text() == primary_id
    page.screenshot(path=screenshot_dir / "incident-acknowledged-via-link.png", full_page=True)
    page.close()
    incident = escalation.get_incident(incident_id)
    assert (incident.status, incident.acknowledged_by) == ("acknowledged", primary_id)


def test_month_grid_and_fairness_charts_render_without_javascript(api_server, browser, screenshot_dir):
    """The calendar's month grid and the fairness charts are server-rendered: after logging in
    (Airflow's login page needs JavaScript), a context with JavaScript off shows both."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{api_server}/techflow/calendar")
    page.wait_for_url("**/auth/login**")
    page.fill("input[name=username]", "viewer")
    page.fill("input[name=password]", WEB_USERS["viewer"][1])
    page.click("button[type=submit]")
    page.wait_for_url("**/techflow/calendar")
    no_script = browser.new_context(viewport={"width": 1400, "height": 900}, java_script_enabled=False)
    no_script.add_cookies(context.cookies())
    page = no_script.new_page()

    page.goto(f"{api_server}/techflow/calendar?month=2026-12")
    grid = page.locator('[data-testid="month-grid"]')
    assert grid.is_visible() and grid.locator("thead th").count() == 1 + 31
    holiday = grid.locator('tr[data-person="jonas"] td[data-date="2026-12-26"] [data-kind="holiday"]')
    assert holiday.is_visible() and holiday.get_attribute("title") == "Second Day of Christmas"
    page.click('[data-testid="month-next"]')
    page.wait_for_url("**/techflow/calendar?month=2027-01")
    assert page.locator('[data-testid="month-title"]').inner_text() == "January 2027"
    page.goto(f"{api_server}/techflow/calendar?month=2026-12")
    page.locator('[data-testid="month-grid"]').screenshot(path=screenshot_dir / "oncall-month.png")

    page.goto(f"{api_server}/techflow/fairness")
    chart = page.locator('[data-testid="chart-primary"] svg')
    assert chart.is_visible() and chart.bounding_box()["height"] > 100
    assert chart.get_attribute("role") == "img" and "fair schedule vs strict round-robin" in chart.get_attribute("aria-label")
    assert page.locator('[data-testid="fairness-primary"]').is_visible()
    assert page.locator('[data-testid="round-robin-primary"]').is_visible()
    no_script.close()
    context.close()


def test_anonymous_browser_sees_nothing(api_server, browser):
    page = browser.new_page()
    response = page.goto(f"{api_server}/techflow/api/ownership")
    assert response.status == 401
    assert "pipelines" not in page.content()
    page.close()
