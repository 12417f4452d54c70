"""Screenshots of the three digests as a mail client shows their HTML part, rendered in headless
Chromium: docs/screenshots/digest-daily.png, digest-weekly.png, digest-monthly.png.

    .venv/bin/python scripts/screenshot_digests.py [--out DIR]

The digests are composed by the product's code (`techflow_ops.digests.run`, charts drawn by
matplotlib) from a fixed sample week around the March 2027 DST change, so the pictures do not
depend on a running Airflow; the images are embedded as data: URIs instead of Content-IDs.
Needs /usr/bin/chromium (apt-get install -y chromium) and playwright (test dependencies).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "plugins"))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
NEW_YORK = ZoneInfo("America/New_York")
PIPELINES = ("profit", "growth", "engagement", "executive_investor", "experiment_team")


def _utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def _stats(median=None, p90=None) -> dict:
    return {"mean": median, "median": median, "p90": p90, "p95": p90}


def _pipeline(runs=1, rate=1.0, state="healthy", reasons=(), **extra) -> dict:
    kpis = {"runs": runs, "run_success_rate": rate, "freshness_sla_attainment": 1.0, "deadline_misses": 0, "incidents": 0,
            "incidents_by_severity": {}, "mtta_seconds": _stats(), "mttr_seconds": _stats(), "data_downtime_hours": 0.0,
            "dq_pass_rate": {"validations": 1.0, "checks": 1.0}, "open_incidents": 0, "uptime": 1.0,
            "health": {"state": state, "reasons": list(reasons)}}
    kpis.update(extra)
    return kpis


def _person(primary=0.0, secondary=0.0, watch=0.0, business=0, off_hours=0, sleep=0, pages=0) -> dict:
    return {"oncall_hours": {"primary": primary, "secondary": secondary, "watch": watch}, "pages": pages,
            "interruptions": {"business": business, "off_hours": off_hours, "sleep": sleep}, "acks": pages,
            "mtta_seconds": _stats(), "escalated_past": 0}


def _series(first: date, days: int, failures: dict[str, set[int]]) -> dict:
    out = {}
    for pipeline in PIPELINES:
        out[pipeline] = [{"date": date.fromordinal(first.toordinal() + i).isoformat(), "runs": 1,
                          "success_rate": 0.0 if i in failures.get(pipeline, set()) else 1.0, "fresh": True}
                         for i in range(days)]
    return out


def _targets(uptime: float, sla: float) -> dict:
    return {"uptime": {"target": 0.999, "value": uptime, "met": uptime >= 0.999},
            "sla_compliance": {"target": 1.0, "value": sla, "met": sla >= 1.0},
            "critical_resolved_within_48h": {"target": 1.0, "value": 1.0, "met": True},
            "investor_completeness": {"target": 1.0, "value": 1.0, "met": True}}


def sample_inputs(kind: str):
    from techflow_ops.digests.compose import DigestInputs

    open_incidents = [
        {"id": 412, "pipeline_id": "engagement", "severity": "major", "status": "acknowledged",
         "opened_at": _utc(2027, 3, 14, 22, 40), "owner": "sofia",
         "runbook_url": "http://localhost:8080/techflow/runbooks/engagement#kafka-outage"},
        {"id": 415, "pipeline_id": "profit", "severity": "critical", "status": "open",
         "opened_at": _utc(2027, 3, 15, 6, 5), "owner": "priya",
         "runbook_url": "http://localhost:8080/techflow/runbooks/profit#data-quality"},
    ]
    if kind == "daily":
        at = _utc(2027, 3, 15, 13)
        pipelines = {p: _pipeline() for p in PIPELINES}
        pipelines["profit"] = _pipeline(runs=2, rate=0.5, state="degraded", reasons=["critical incident open"], incidents=1)
        pipelines["engagement"] = _pipeline(state="warning", reasons=["latest DQ result warned"])
        return DigestInputs(
            "daily", at, NEW_YORK, date(2027, 3, 14), date(2027, 3, 14),
            {"from": "2027-03-14", "to": "2027-03-14", "pipelines": pipelines, "people": {}, "totals": {}},
            daily_series=_series(date(2027, 3, 1), 14, {"profit": {13}, "growth": {4}}),
            open_incidents=open_incidents,
            oncall=[{"day": "2027-03-15", "primary": "priya", "secondary": "marcus", "investor_watch": None},
                    {"day": "2027-03-16", "primary": "marcus", "secondary": "sofia", "investor_watch": None}],
            dq_warnings=[{"pipeline_id": "engagement", "dataset": "engagement_daily",
                          "summary": "duplicate click events 0.06 % (warn above 0.05 %)", "at": _utc(2027, 3, 14, 11)}])
    people = {"priya": _person(168, 0, 0, business=3, off_hours=1, sleep=1, pages=6),
              "marcus": _person(0, 168, 0, business=1, pages=1),
              "sofia": _person(0, 0, 0, off_hours=2, sleep=1, pages=3),
              "jonas": _person(0, 0, 0, business=1, pages=1)}
    if kind == "weekly":
        pipelines = {p: _pipeline(runs=7) for p in PIPELINES}
        pipelines["profit"] = _pipeline(runs=7, rate=6 / 7, incidents=2, incidents_by_severity={"critical": 1, "major": 1},
                                        mtta_seconds=_stats(540, 900), mttr_seconds=_stats(5400, 14400),
                                        data_downtime_hours=6.5, uptime=0.994, freshness_sla_attainment=6 / 7)
        pipelines["engagement"] = _pipeline(runs=7, incidents=1, mtta_seconds=_stats(300, 300),
                                            mttr_seconds=_stats(3600, 3600), data_downtime_hours=1.2,
                                            dq_pass_rate={"validations": 6 / 7, "checks": 0.98})
        return DigestInputs(
            "weekly", _utc(2027, 3, 15, 13), NEW_YORK, date(2027, 3, 8), date(2027, 3, 14),
            {"from": "2027-03-08", "to": "2027-03-14", "pipelines": pipelines, "people": people,
             "totals": {"incidents": 3, "mtta_seconds": _stats(480, 900), "mttr_seconds": _stats(4800, 14400),
                        "targets": _targets(0.994, 0.97)}},
            daily_series=_series(date(2027, 3, 8), 7, {"profit": {2}}),
            weekly_series=[{"week_start": f"2027-{m:02d}-{d:02d}", "mtta_median": mtta, "mttr_median": mttr, "incidents": n}
                           for (m, d), mtta, mttr, n in zip(
                               [(1, 18), (1, 25), (2, 1), (2, 8), (2, 15), (2, 22), (3, 1), (3, 8)],
                               [720, 600, None, 900, 420, 660, 300, 480], [10800, 7200, None, 21600, 5400, 9000, 3600, 4800],
                               [2, 1, 0, 3, 1, 2, 1, 3])],
            open_incidents=open_incidents[:1],
            handoff={"at": "2027-03-15 10:00 EDT", "coming_on": {"primary": "marcus", "secondary": "sofia"},
                     "going_off": {"primary": "priya", "secondary": "marcus"}},
            year_people={"priya": _person(432, 336, 40), "marcus": _person(336, 432, 40), "sofia": _person(336, 264, 40),
                         "jonas": _person(264, 336, 40)},
            fairness_target_hours=168)
    pipelines = {p: _pipeline(runs=28, freshness_sla_attainment=1.0) for p in PIPELINES}
    pipelines["profit"] = _pipeline(runs=28, rate=26 / 28, incidents=3, incidents_by_severity={"critical": 1, "major": 2},
                                    uptime=0.997, freshness_sla_attainment=27 / 28)
    return DigestInputs(
        "monthly", _utc(2027, 3, 1, 14), NEW_YORK, date(2027, 2, 1), date(2027, 2, 28),
        {"from": "2027-02-01", "to": "2027-02-28", "pipelines": pipelines,
         "people": {"priya": _person(168, 168, 40, business=4, off_hours=1, sleep=2),
                    "marcus": _person(168, 168, 40, business=2, sleep=1),
                    "sofia": _person(168, 168, 40, business=3, off_hours=2),
                    "jonas": _person(168, 168, 40, business=1)},
         "totals": {"targets": _targets(0.9994, 27 / 28)}},
        daily_series=_series(date(2027, 2, 1), 28, {"profit": {9, 23}}),
        month_end_incidents=[{"id": 388, "pipeline_id": "profit", "severity": "critical", "status": "resolved",
                              "opened_at": _utc(2027, 2, 24, 8, 0), "owner": "priya", "runbook_url":
                              "http://localhost:8080/techflow/runbooks/profit#revenue-mismatch"}],
        readiness=[{"report": "investor_monthly", "period": "2027-02", "complete": True, "dq_status": "passed",
                    "signed_off": {"by": "ravi"}, "ready": True}])


def screenshot(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from techflow_ops.digests import run
    from techflow_ops.digests.compose import render_images

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 720, "height": 900})
            for kind in ("daily", "weekly", "monthly"):
                inputs = sample_inputs(kind)
                digest = run(kind, inputs.at, inputs=inputs).digests[0]  # the engineering team's / management's
                page.set_content(digest.html(render_images(digest), inline="data"), wait_until="load")
                widths = page.evaluate("Array.from(document.images).map(image => image.naturalWidth)")
                if len(widths) != len(digest.charts) or set(widths) != {480}:
                    raise RuntimeError(f"{kind} digest: charts not shown as 480-px images (natural widths {widths})")
                path = out / f"digest-{kind}.png"
                page.screenshot(path=str(path), full_page=True)
                written.append(path)
        finally:
            browser.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    for path in screenshot(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
