"""The Health page: KPIs of a window computed from seeded real sources (Airflow's metadata DB,
the ops DB, the warehouse, the on-call schedule), in HTML tables a browser without JavaScript
shows, with charts inlined as SVG; and the health state on the On-call page, the ownership
matrix and the DAG tab.

The seeded week is 2026-11-23..2026-11-29 in the rotation's time zone (America/New_York, EST:
UTC-5, no DST change), i.e. [2026-11-23 05:00, 2026-11-30 05:00) UTC, long past: the other web
tests write "now", so nothing of theirs falls in it. Every expected value below is worked out
by hand from the seed and README "KPIs and health".
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from .conftest import bearer
from .hostile import SCRIPT_NAME, executable_parts
from .test_dag_permissions import DENIED_DAG, viewer_denied_profit  # noqa: F401 - the fixture

UTC = timezone.utc
WEEK = {"from": "2026-11-23", "to": "2026-11-29"}
PIPELINE = "growth"  # freshness SLA 7d


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def _record_run(dag_id: str, run_id: str, state: str, queued_at: datetime) -> None:
    """A DAG run with the instants the KPIs read (queued, started, ended), as the scheduler leaves them."""
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        if session.get(DagBundleModel, "techflow_web_tests") is None:
            session.add(DagBundleModel(name="techflow_web_tests"))
            session.flush()
        if session.get(DagModel, dag_id) is None:
            session.add(DagModel(dag_id=dag_id, bundle_name="techflow_web_tests", is_stale=False, is_paused=False))
            session.flush()
        run = DagRun(dag_id=dag_id, run_id=run_id, run_type="scheduled", state=state, run_after=queued_at,
                     queued_at=queued_at, start_date=queued_at)
        run.end_date = queued_at + timedelta(minutes=30)
        session.add(run)


def _seed_week() -> None:
    from sqlalchemy import insert

    from techflow_ops import opsdb
    from techflow_ops.opsdb.schema import incidents, outbox
    from techflow_ops.pipelines import warehouse
    from techflow_ops.quality.results import CheckOutcome, QualityResult, record

    # Runs: 2 succeeded, 1 failed; the last before the window's end succeeded.
    for day, state in ((24, "success"), (25, "failed"), (26, "success")):
        _record_run(PIPELINE, f"scheduled__health_2026-11-{day}", state, at(day, 6))
    # Day 2026-11-22 published at 11-23 07:00 UTC: stale from the window's start (nothing
    # before) until then, fresh afterwards (due end of 11-23 + 7 d = 12-01 00:00 UTC).
    with warehouse.get_engine().begin() as connection:
        connection.execute(insert(warehouse.pipeline_runs), [{
            "pipeline_id": PIPELINE, "date": date(2026, 11, 22), "run_id": "health-seed", "status": "published",
            "rows_written": 1, "rows_rejected": 0, "summary": "{}", "finished_at": datetime(2026, 11, 23, 7)}])
    # Incidents: a major and a minor resolved in the window, a minor still open at its end.
    seeded = [
        ("major", at(24, 14), at(24, 14, 20), "priya", at(24, 16)),
        ("minor", at(26, 9), at(26, 9, 10), "marcus", at(26, 13)),
        ("minor", at(28, 10), None, None, None),
    ]
    with opsdb.get_engine().begin() as connection:
        ids = []
        for n, (severity, opened, acked, by, resolved) in enumerate(seeded):
            status = "resolved" if resolved else "acknowledged" if acked else "open"
            ids.append(connection.execute(insert(incidents).values(
                dedup_key=f"health-page-test:{n}", kind="task_failure", pipeline_id=PIPELINE, dag_id=PIPELINE,
                failure_class="task_error", severity=severity, error="", details="{}", status=status, opened_at=opened,
                updated_at=resolved or opened, acknowledged_at=acked, acknowledged_by=by, resolved_at=resolved,
                resolved_by="priya" if resolved else None)).inserted_primary_key[0])
        # Pages: priya twice 30 s apart at 23:00 New York (one interruption, in her sleep hours);
        # marcus once at 09:00 Chicago on a Thursday (business hours).
        pages = [("priya", at(25, 4), ids[0]), ("priya", at(25, 4, 0, 30), ids[0]), ("marcus", at(26, 15), ids[1])]
        connection.execute(insert(outbox), [
            {"idempotency_key": f"health-page-test:page:{n}", "incident_id": incident_id, "purpose": "page",
             "recipient": who, "channel": "email", "target": f"{who}@example.com", "message_key": f"health-page-test:{n}",
             "status": "delivered", "attempts": 1, "created_at": when, "next_attempt_at": when}
            for n, (who, when, incident_id) in enumerate(pages)])
    # DQ: four validations of two checks each; the one on 11-25 failed its critical check.
    passed = CheckOutcome("row_count_in_range", "critical", "volume", "rows within range", True, {})
    failed = CheckOutcome("account_id_not_null", "critical", "completeness", "account_id is never null", False, {})
    for day, outcomes in ((24, (passed, passed)), (25, (passed, failed)), (26, (passed, passed)), (27, (passed, passed))):
        record(QualityResult(PIPELINE, "growth_daily", f"2026-11-{day}", f"health-{day}", at(day, 8), outcomes, 100))


@pytest.fixture(scope="module")
def seeded(api_client):
    from techflow_ops.web import health

    _seed_week()
    health.clear_cache()  # the Airflow runs and the warehouse are not in the cache's ops-DB marker
    yield
    health.clear_cache()


class _Tables(HTMLParser):
    """The text of every cell: {table testid: {row key: {data-col: text}}}, the row key being
    its data-pipeline / data-person / data-week / data-target attribute."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict[str, dict[str, str]]] = {}
        self._table = self._row = self._col = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("data-testid"):
            self._table = self.tables.setdefault(attrs["data-testid"], {})
        elif tag == "tr" and self._table is not None:
            key = next((attrs[a] for a in ("data-pipeline", "data-person", "data-week", "data-target") if a in attrs), None)
            self._row = self._table.setdefault(key, {}) if key else None
        elif tag in ("td", "th") and self._row is not None and attrs.get("data-col"):
            self._col = attrs["data-col"]
            self._row[self._col] = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._col = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._col is not None:
            self._row[self._col] += data


def tables_of(html: str) -> dict:
    parser = _Tables()
    parser.feed(html)
    # Runs of ASCII white space collapse; the no-break space between a number and its "%" stays.
    return {name: {row: {col: re.sub(r"[ \t\r\n]+", " ", text).strip() for col, text in cols.items()}
                   for row, cols in rows.items()}
            for name, rows in parser.tables.items()}


def test_health_page_shows_the_weeks_kpis_in_tables(api_client, tokens, seeded):
    response = api_client.get("/techflow/health", params=WEEK, headers=bearer(tokens["viewer"]))
    assert response.status_code == 200, response.text
    tables = tables_of(response.text)
    row = tables["health-pipelines"][PIPELINE]
    assert row["runs"] == "3"
    assert row["run_success_rate"] == "66.7\u00a0%"  # 2 of 3 finished runs
    # UTC days 11-23..11-29 and the first 5 h of 11-30: 8 days, all fresh but 11-23.
    assert row["freshness_sla_attainment"] == "87.5\u00a0%"
    assert row["incidents"] == "3" and row["open_incidents"] == "1"
    assert row["mtta"] == "15 min / 20 min"  # (20 + 10) / 2; nearest-rank p90 of 2 = the 2nd
    assert row["mttr"] == "3.0 h / 4.0 h"  # (2 h + 4 h) / 2
    assert row["data_downtime_hours"] == "49.0 h"  # 2 h + 4 h + (11-28 10:00 .. 11-30 05:00 = 43 h)
    assert row["dq_validations"] == "75.0\u00a0%"  # 3 of 4 without a failed critical check
    assert row["dq_checks"] == "87.5\u00a0%"  # 7 of 8
    assert row["uptime"] == "100\u00a0%"  # no critical incident
    # As of the window's end: last run succeeded, fresh, latest DQ passed, one minor open.
    assert row["health"].startswith("warning") and "open incidents: 1 minor" in row["health"]

    daily = tables["daily-table"][PIPELINE]
    assert daily["days_with_runs"] == "3" and daily["successful_days"] == "2"
    assert daily["failed_days"] == "2026-11-25 (0.0\u00a0%)"
    assert daily["fresh_days"] == "7 of 8" and daily["stale_days"] == "2026-11-23"

    week = tables["weekly-table"]["2026-11-23"]  # the ISO week of Monday 11-23 (UTC)
    assert week == {"incidents": "3", "mtta_median": "15 min", "mttr_median": "3.0 h"}
    assert tables["dq-table"][PIPELINE] == {"validations": "75.0\u00a0%", "checks": "87.5\u00a0%"}

    people = tables["people-table"]
    assert people["priya"]["pages"] == "2"
    assert (people["priya"]["business"], people["priya"]["off_hours"], people["priya"]["sleep"]) == ("0", "0", "1")
    assert (people["marcus"]["pages"], people["marcus"]["business"], people["marcus"]["sleep"]) == ("1", "1", "0")
    assert (people["priya"]["acks"], people["priya"]["mtta"]) == ("1", "20 min")
    assert (people["marcus"]["acks"], people["marcus"]["mtta"]) == ("1", "10 min")


def test_on_call_load_covers_every_primary_hour_since_the_first_hand_off(api_client, tokens, seeded):
    """The rotation starts with the hand-off on Monday 11-23 10:00 New York (15:00 UTC): from
    then to the window's end (11-30 05:00 UTC) is 6 days 14 hours = 158 h, each held by one primary."""
    html = api_client.get("/techflow/health", params=WEEK, headers=bearer(tokens["viewer"])).text
    load = tables_of(html)["load-table"]
    assert sum(float(r["primary"]) for r in load.values()) == pytest.approx(158.0)
    assert 'data-testid="fairness-spread"' in html and "fairness target at most 168 h" in html


def test_charts_are_inline_svg_with_their_numbers_in_words(api_client, tokens, seeded):
    html = api_client.get("/techflow/health", params=WEEK, headers=bearer(tokens["viewer"])).text
    for name in ("daily", "response", "dq", "load", "interruptions"):
        figure = html.split(f'data-testid="chart-{name}">', 1)[1].split("</figure>", 1)[0]
        assert figure.startswith('<svg role="img" aria-label="'), name
        assert "<?xml" not in figure and "<!DOCTYPE" not in figure
        assert "<figcaption" in figure
    assert "<script" not in html  # nothing for a browser to run: it works with JavaScript off
    from techflow_ops.registry import get_registry

    title = get_registry().pipelines[PIPELINE].title
    assert f"{title}: 1 day with a failed run, 1 stale day" in html  # the alt text, under the grid


def test_the_json_api_answers_the_same_numbers_without_the_drawings(api_client, tokens, seeded):
    body = api_client.get("/techflow/api/health", params=WEEK, headers=bearer(tokens["viewer"])).json()
    assert (body["from"], body["to"], body["timezone"]) == ("2026-11-23", "2026-11-29", "America/New_York")
    growth = body["kpis"]["pipelines"][PIPELINE]
    assert growth["run_success_rate"] == pytest.approx(2 / 3)
    assert growth["mttr_seconds"]["median"] == 3 * 3600
    assert growth["health"] == {"state": "warning", "reasons": ["open incidents: 1 minor"]}
    assert all("svg" not in chart for chart in body["charts"].values())
    assert json.dumps(body)  # plain JSON all through


@pytest.mark.parametrize("params, message", [
    ({"from": "2026-13-01"}, "from='2026-13-01': not a date (YYYY-MM-DD)"),
    ({"to": "yesterday"}, "to='yesterday': not a date (YYYY-MM-DD)"),
    ({"from": "2026-11-29", "to": "2026-11-23"}, "from=2026-11-29 is after to=2026-11-23"),
    ({"from": "2025-01-01", "to": "2026-11-23"}, "from=2025-01-01 to=2026-11-23 spans 692 days: at most 366 at a time"),
    ({"to": "9" * 100}, f"to='{'9' * 40}...': not a date (YYYY-MM-DD)"),
])
def test_a_bad_window_is_refused_naming_the_parameter(api_client, tokens, params, message):
    viewer = bearer(tokens["viewer"])
    api = api_client.get("/techflow/api/health", params=params, headers=viewer)
    assert (api.status_code, api.json()) == (400, {"detail": message})
    page = api_client.get("/techflow/health", params=params, headers=viewer)
    assert page.status_code == 400
    error = page.text.split('data-testid="window-error">', 1)[1].split("</p>", 1)[0]
    assert message.replace("'", "&#39;") in error
    assert 'data-testid="window-form"' in page.text  # the form, to correct it


def test_default_window_is_the_last_28_days(api_client, tokens):
    from techflow_ops.web.health import team_timezone

    body = api_client.get("/techflow/api/health", headers=bearer(tokens["viewer"])).json()
    today = datetime.now(team_timezone()).date()
    assert (body["from"], body["to"]) == ((today - timedelta(days=27)).isoformat(), today.isoformat())


def test_pipelines_of_unreadable_dags_are_left_out(api_client, tokens, seeded, viewer_denied_profit):  # noqa: F811
    viewer = api_client.get("/techflow/health", params=WEEK, headers=bearer(tokens["viewer"])).text
    assert f'data-pipeline="{DENIED_DAG}"' not in viewer and f'data-pipeline="{PIPELINE}"' in viewer
    body = api_client.get("/techflow/api/health", params=WEEK, headers=bearer(tokens["viewer"])).json()
    assert DENIED_DAG not in body["kpis"]["pipelines"] and DENIED_DAG not in body["order"]
    admin = api_client.get("/techflow/health", params=WEEK, headers=bearer(tokens["admin"])).text
    assert f'data-pipeline="{DENIED_DAG}"' in admin


def test_anonymous_gets_nothing(api_client):
    for path in ("/techflow/health", "/techflow/api/health"):
        response = api_client.get(path, params=WEEK)
        assert response.status_code == 401 and PIPELINE not in response.text


def test_hostile_names_stay_text_in_tables_and_drawings(api_client, tokens, seeded, hostile_config):
    html = api_client.get("/techflow/health", params=WEEK, headers=bearer(tokens["viewer"])).text
    assert executable_parts(html) == []
    assert "alert" in html  # the name is shown, as text
    assert SCRIPT_NAME not in html


# --- the health state on the other pages ------------------------------------------------------


def test_health_state_with_text_on_oncall_ownership_and_dag_tab(api_client, tokens):
    from techflow_ops.web import health

    from .conftest import open_incident

    open_incident("RuntimeError: engagement consumer stuck", pipeline_id="engagement", task_id="consume_events")
    health.clear_cache()
    viewer = bearer(tokens["viewer"])
    rows = {r["pipeline_id"]: r for r in api_client.get("/techflow/api/ownership", headers=viewer).json()["pipelines"]}
    # An open incident of a medium pipeline is at least a warning, and says so.
    assert rows["engagement"]["health"]["state"] in ("warning", "degraded")
    assert any(reason.startswith("open incidents: ") for reason in rows["engagement"]["health"]["reasons"])

    ownership = tables_of(api_client.get("/techflow/ownership", headers=viewer).text)["ownership"]
    state = rows["engagement"]["health"]["state"]
    assert ownership["engagement"]["health"].startswith(state) and "open incidents: " in ownership["engagement"]["health"]

    oncall = api_client.get("/techflow/oncall", headers=viewer).text
    listed = tables_of(oncall)["pipeline-health"]["engagement"]["health"]
    assert listed.startswith(state) and "open incidents: " in listed
    assert f'class="badge health-{state}" data-health="{state}">{state}</span>' in oncall  # a word, not colour alone

    dag = api_client.get("/techflow/dags/engagement", headers=viewer).text
    card = dag.split('data-testid="pipeline-health"', 1)[1].split("</section>", 1)[0]
    assert f'data-health="{state}">{state}<' in card and "open incidents: " in card


def test_stale_days_are_listed_as_ranges():
    from techflow_ops.web.health import day_ranges

    days = ["2026-11-03", "2026-11-04", "2026-11-05", "2026-11-07", "2026-11-30", "2026-12-01"]
    assert day_ranges(days) == ["2026-11-03 to 2026-11-05", "2026-11-07", "2026-11-30 to 2026-12-01"]
    assert day_ranges([]) == []


def test_a_user_who_may_read_no_dag_gets_an_empty_page_not_an_error(api_client, seeded):
    from techflow_ops.web import views

    data = views.health(WEEK["from"], WEEK["to"], readable=lambda dag_ids: set())
    assert data["order"] == [] and data["kpis"]["pipelines"] == {}
    assert data["kpis"]["totals"]["runs"] == 0 and data["charts"]["daily_health"]["svg"].startswith("<svg")


def test_unreadable_sources_cost_the_health_not_the_page(api_client, tokens, monkeypatch):
    from techflow_ops.web import health

    def broken():
        raise RuntimeError("could not read dag_run from Airflow's metadata DB")

    monkeypatch.setattr(health, "health_now", broken)
    viewer = bearer(tokens["viewer"])
    response = api_client.get("/techflow/ownership", headers=viewer)
    assert response.status_code == 200
    cell = tables_of(response.text)["ownership"][PIPELINE]["health"]
    assert cell == "unknown health unavailable: could not read its sources (RuntimeError)"
    assert api_client.get("/techflow/oncall", headers=viewer).status_code == 200


def test_a_change_in_the_ops_db_shows_on_the_next_request(api_client, tokens, seeded):
    """The cached KPIs are keyed on the ops DB's change marker: a new validation moves it."""
    from techflow_ops.quality.results import CheckOutcome, QualityResult, record

    viewer = bearer(tokens["viewer"])
    before = tables_of(api_client.get("/techflow/health", params=WEEK, headers=viewer).text)
    assert before["health-pipelines"]["engagement"]["dq_validations"] == "-"
    passed = CheckOutcome("row_count_in_range", "critical", "volume", "rows within range", True, {})
    record(QualityResult("engagement", "engagement_daily", "2026-11-27", "health-cache", at(27, 9), (passed,), 10))
    after = tables_of(api_client.get("/techflow/health", params=WEEK, headers=viewer).text)
    assert after["health-pipelines"]["engagement"]["dq_validations"] == "100.0\u00a0%"


def test_cache_entries_expire_after_their_ttl_and_the_oldest_goes_first():
    from techflow_ops.web.health import TtlCache

    now = [0.0]
    cache = TtlCache(ttl=60, max_entries=2, clock=lambda: now[0])
    computed = []

    def compute(value):
        computed.append(value)
        return value

    assert cache.get("a", lambda: compute(1)) == 1
    now[0] = 59.9
    assert cache.get("a", lambda: compute(2)) == 1  # within the TTL: not computed again
    now[0] = 60.0
    assert cache.get("a", lambda: compute(3)) == 3  # expired
    cache.get("b", lambda: compute(4))
    cache.get("c", lambda: compute(5))  # a third key: the least recently used ("a") goes
    assert cache.get("a", lambda: compute(6)) == 6
    assert computed == [1, 3, 4, 5, 6]
