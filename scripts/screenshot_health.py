"""A screenshot of the Health page with realistic data, rendered in headless Chromium:
docs/screenshots/health.png (README "Health page").

    .venv/bin/python scripts/screenshot_health.py [--out DIR] [--from 2026-11-01] [--to 2026-11-28]

The shipped five pipelines with a year (2026) of generated history (bench_kpi's generator:
daily runs with ~3 % failures, 500 incidents paged, acknowledged and resolved, 2,000 DQ
results, the four engineers' weekly shifts; `settled` resolves the incidents it leaves open
for ever) written to real sources (an Airflow metadata DB made
by `airflow db migrate`, the ops DB, the warehouse), served by a real `airflow api-server` with
the project's plugin, as benchmarks/bench_health_page.py does; the page is the one a logged-in
admin gets. Needs /usr/bin/chromium (apt-get install -y chromium) and playwright (test
dependencies).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import sys
import tempfile
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))  # the year's generator and the server harness
sys.path.insert(0, str(PROJECT_ROOT / "plugins"))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PIPELINES = 5  # the shipped ones, as deployed


def settled(history, last_day: date):
    """The generated year as a team that works its incidents leaves it: the generator leaves 5 %
    of its incidents open for ever (a year of them would show as weeks of open critical
    incidents); those opened before the window's last two days are resolved 1-20 h after they
    were opened, acknowledged first, and the few of those two days stay open."""
    rnd = random.Random(15)
    still_open_from = datetime.combine(last_day - timedelta(days=1), datetime.min.time(), timezone.utc)
    incidents = []
    for incident in history.incidents:
        if incident.resolved_at is None and incident.opened_at < still_open_from:
            acknowledged = incident.acknowledged_at or incident.opened_at + timedelta(minutes=rnd.randint(2, 40))
            incident = replace(incident, acknowledged_at=acknowledged, acknowledged_by=incident.acknowledged_by or "priya",
                               resolved_at=acknowledged + timedelta(hours=rnd.uniform(1, 20)))
        incidents.append(incident)
    return replace(history, incidents=incidents)


def screenshot(out: Path, from_date: str, to_date: str) -> Path:
    from playwright.sync_api import sync_playwright

    from bench_health_page import admin_token, build_config, free_port, server_env, start_server
    from bench_kpi import SIZES, fill_sources, history_of

    work = Path(tempfile.mkdtemp(prefix="techflow-health-shot-"))
    server = None
    try:
        config = build_config(work, PIPELINES)
        os.environ["TECHFLOW_CONFIG_DIR"] = str(config)
        from techflow_ops.registry import get_registry

        history = settled(history_of(get_registry(), SIZES[PIPELINES]), date.fromisoformat(to_date))
        urls = fill_sources(work, history)
        port = free_port()
        server = start_server(port, server_env(work, urls, config), work / "api-server.log")
        token = admin_token(http.client.HTTPConnection("127.0.0.1", port, timeout=120))
        target = out / "health.png"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 900},
                                          extra_http_headers={"Authorization": f"Bearer {token}"})
            page = context.new_page()
            response = page.goto(f"http://127.0.0.1:{port}/techflow/health?from={from_date}&to={to_date}")
            if response is None or response.status != 200:
                raise SystemExit(f"the Health page answered {response.status if response else 'nothing'}")
            page.locator('[data-testid="chart-daily"] svg').wait_for(state="visible")
            page.screenshot(path=target, full_page=True)
            browser.close()
        return target
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "screenshots")
    parser.add_argument("--from", dest="from_date", default="2026-11-01")
    parser.add_argument("--to", dest="to_date", default="2026-11-28")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    print(screenshot(args.out, args.from_date, args.to_date))
    return 0


if __name__ == "__main__":
    sys.exit(main())
