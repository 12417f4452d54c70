"""Fairness, iCal feeds, data-quality results and Data Docs, as the other areas store them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from techflow_ops import settings
from techflow_ops.oncall import get_schedule_service
from techflow_ops.quality.results import CheckOutcome, QualityResult, record
from techflow_ops.registry import get_registry

from .conftest import bearer
from .hostile import executable_parts


def test_fairness_spread_is_max_minus_min_per_metric(api_client, tokens):
    body = api_client.get("/techflow/api/fairness", headers=bearer(tokens["viewer"])).json()
    report = body["report"]
    assert report["members"] == list(get_schedule_service().rotation.members)
    assert set(body["names"]) == set(report["members"])
    for role, rows in report["fair"]["per_person"].items():
        assert set(rows) <= set(report["members"])
        for metric in body["metrics"]:
            values = [row[metric] for row in rows.values()]
            assert abs(report["fair"]["spread"][role][metric] - round(max(values) - min(values), 2)) < 0.011
    html = api_client.get("/techflow/fairness", headers=bearer(tokens["viewer"])).text
    assert 'data-testid="fairness-primary"' in html
    assert get_registry().people[report["members"][0]].name in html


def test_fairness_window_is_bounded_by_the_query(api_client, tokens):
    start = datetime.now(timezone.utc).date() + timedelta(days=7)
    body = api_client.get("/techflow/api/fairness", params={"start": start.isoformat(), "weeks": 4},
                          headers=bearer(tokens["viewer"])).json()
    begin = datetime.fromisoformat(body["report"]["from"].replace("Z", "+00:00"))
    until = datetime.fromisoformat(body["report"]["until"].replace("Z", "+00:00"))
    assert begin.date() in (start, start + timedelta(days=1))
    assert until - begin <= timedelta(weeks=4)


def test_person_and_team_feeds_serve_ical_with_their_token(api_client, tokens):
    feeds = api_client.get("/techflow/api/feeds", headers=bearer(tokens["viewer"])).json()
    service = get_schedule_service()
    person_id = service.rotation.members[0]
    url = next(f["url"] for f in feeds["people"] if f["id"] == person_id)
    response = api_client.get(url.removeprefix("http://localhost"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert response.text.startswith("BEGIN:VCALENDAR")
    assert "BEGIN:VEVENT" in response.text
    team_url = next(f["url"] for f in feeds["teams"] if f["id"] == service.rotation.team)
    assert api_client.get(team_url.removeprefix("http://localhost")).text.count("BEGIN:VEVENT") >= response.text.count("BEGIN:VEVENT")
    other_team = next(f for f in feeds["teams"] if f["id"] != service.rotation.team)
    answer = api_client.get(other_team["url"].removeprefix("http://localhost"))
    assert answer.status_code == 404 and "no on-call rotation" in answer.json()["detail"]


def test_latest_quality_result_per_pipeline_worst_dataset_wins(api_client, tokens):
    now = datetime.now(timezone.utc)
    passed = CheckOutcome("row_count_in_range", "critical", "volume", "rows within range", True, {"observed_value": 900})
    failed = CheckOutcome("account_id_not_null", "critical", "completeness", "<b>account_id</b> is never null", False,
                          {"unexpected_count": 3})
    record(QualityResult("growth", "growth_daily", now.date().isoformat(), "run-1", now, (passed,), 900))
    record(QualityResult("growth", "growth_weekly", now.date().isoformat(), "run-1", now, (passed, failed), 120,
                         data_docs_path="validations/growth_weekly.html"))
    record(QualityResult("profit", "profit_daily_account", now.date().isoformat(), "run-1", now, (passed,), 500))
    body = api_client.get("/techflow/api/ownership", headers=bearer(tokens["viewer"])).json()
    rows = {r["pipeline_id"]: r for r in body["pipelines"]}
    assert rows["growth"]["data_quality"]["status"] == "failed"
    weekly = next(d for d in rows["growth"]["data_quality"]["datasets"] if d["dataset"] == "growth_weekly")
    assert weekly["failed_checks"] == ["account_id_not_null"]
    assert weekly["data_docs_url"].endswith("/techflow/datadocs/validations/growth_weekly.html")
    assert rows["profit"]["data_quality"]["status"] == "passed"
    html = api_client.get("/techflow/ownership", headers=bearer(tokens["viewer"])).text
    assert executable_parts(html) == []
    assert "account_id_not_null" in html


def test_data_docs_are_served_behind_login_and_never_outside_their_folder(api_client, tokens):
    docs = settings.data_dir() / "quality" / "data_docs"
    (docs / "validations").mkdir(parents=True, exist_ok=True)
    (docs / "index.html").write_text("<html><body>GX Data Docs index</body></html>")
    (settings.data_dir() / "secret.txt").write_text("not for the web")
    viewer = bearer(tokens["viewer"])
    assert "GX Data Docs index" in api_client.get("/techflow/datadocs/index.html", headers=viewer).text
    assert api_client.get("/techflow/datadocs/index.html").status_code == 401
    for sneaky in ("/techflow/datadocs/%2e%2e/%2e%2e/secret.txt", "/techflow/datadocs/..%2F..%2Fsecret.txt"):
        response = api_client.get(sneaky, headers=viewer)
        assert response.status_code == 404, sneaky
        assert "not for the web" not in response.text


def test_data_docs_run_sandboxed_away_from_airflows_origin(api_client, tokens):
    """GX pages load scripts from CDNs; sandboxed without allow-same-origin they get an opaque
    origin, so they cannot call Airflow's API with the user's cookie."""
    docs = settings.data_dir() / "quality" / "data_docs"
    (docs / "validations").mkdir(parents=True, exist_ok=True)
    (docs / "validations" / "sandboxed.html").write_text("<html><body>validation page</body></html>")
    (docs / "validations" / "page.js").write_text("console.log('gx')")
    viewer = bearer(tokens["viewer"])
    for path in ("validations/sandboxed.html", "validations/page.js"):
        response = api_client.get(f"/techflow/datadocs/{path}", headers=viewer)
        assert response.status_code == 200, path
        csp = [d.strip() for d in response.headers["content-security-policy"].split(";")]
        sandbox = next(d.split() for d in csp if d.startswith("sandbox"))
        assert "allow-scripts" in sandbox and "allow-same-origin" not in sandbox, csp
        assert response.headers["x-content-type-options"] == "nosniff"
