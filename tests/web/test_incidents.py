"""Incidents through the app: viewers read, only users who may edit the DAG acknowledge or
resolve, the user's name lands in the timeline, and error text is shown as text."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .conftest import bearer, csrf_from, open_incident, record_dag_run
from .hostile import executable_parts, visible_text

HOSTILE_ERROR = 'ValueError: <script>alert("err")</script><img src=x onerror=alert(1)>'


def test_viewer_sees_incident_but_cannot_acknowledge(api_client, tokens):
    incident_id = open_incident("KeyError: 'account_id'")
    viewer = bearer(tokens["viewer"])
    body = api_client.get(f"/techflow/api/incidents/{incident_id}", headers=viewer).json()
    assert body["status"] == "open" and body["pipeline_id"] == "profit"
    assert body["runbook_url"].endswith("/techflow/runbooks/profit#task-error")
    refused = api_client.post(f"/techflow/api/incidents/{incident_id}/acknowledge", headers=viewer, json={})
    assert refused.status_code == 403
    assert api_client.get(f"/techflow/api/incidents/{incident_id}", headers=viewer).json()["status"] == "open"


def test_editor_acknowledges_and_is_named_in_the_timeline(api_client, tokens):
    incident_id = open_incident("TimeoutError: warehouse did not answer")
    response = api_client.post(
        f"/techflow/api/incidents/{incident_id}/acknowledge", headers=bearer(tokens["editor"]), json={"note": "on it"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "acknowledged"
    assert body["acknowledged_by"] == "editor"
    assert any(e["kind"].startswith("ack") and e["actor"] == "editor" for e in body["timeline"]), body["timeline"]


def test_resolve_then_resolving_again_is_a_conflict(api_client, tokens):
    incident_id = open_incident("RuntimeError: totals do not reconcile")
    editor = bearer(tokens["editor"])
    resolved = api_client.post(f"/techflow/api/incidents/{incident_id}/resolve", headers=editor, json={"note": "rerun"})
    assert resolved.status_code == 200 and resolved.json()["resolved_by"] == "editor"
    again = api_client.post(f"/techflow/api/incidents/{incident_id}/acknowledge", headers=editor, json={})
    assert again.status_code == 409


def test_browser_form_acknowledges_with_cookie_and_csrf_token(api_client, tokens):
    incident_id = open_incident("MemoryError: Spark executor lost", failure_class="out_of_memory")
    api_client.cookies.set("_token", tokens["editor"])
    try:
        page = api_client.get(f"/techflow/incidents/{incident_id}")
        assert 'data-testid="acknowledge"' in page.text
        response = api_client.post(
            f"/techflow/incidents/{incident_id}/acknowledge", data={"csrf_token": csrf_from(page.text)}, follow_redirects=False
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/techflow/incidents/{incident_id}"
        after = api_client.get(f"/techflow/incidents/{incident_id}").text
        assert 'data-testid="incident-status">acknowledged<' in after
        assert "Acknowledged by <strong>editor</strong>" in after
    finally:
        api_client.cookies.clear()


def test_viewer_form_post_is_refused_even_with_a_valid_csrf_token(api_client, tokens):
    incident_id = open_incident("OSError: disk full")
    api_client.cookies.set("_token", tokens["viewer"])
    try:
        token = csrf_from(api_client.get(f"/techflow/incidents/{incident_id}").text)
        response = api_client.post(f"/techflow/incidents/{incident_id}/acknowledge", data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403
    finally:
        api_client.cookies.clear()


def test_error_text_with_html_renders_inert(api_client, tokens):
    incident_id = open_incident(HOSTILE_ERROR, task_id="<b>transform</b>", log_url="javascript:alert('log')")
    viewer = bearer(tokens["viewer"])
    for path in (f"/techflow/incidents/{incident_id}", "/techflow/incidents", "/techflow/dags/profit"):
        html = api_client.get(path, headers=viewer).text
        assert executable_parts(html) == [], path
    detail = api_client.get(f"/techflow/incidents/{incident_id}", headers=viewer).text
    assert HOSTILE_ERROR in visible_text(detail)


def test_listing_filters_and_bad_values(api_client, tokens):
    viewer = bearer(tokens["viewer"])
    incident_id = open_incident("ZeroDivisionError: no subscribers", pipeline_id="growth")
    listed = api_client.get("/techflow/api/incidents", params={"status": "open", "pipeline_id": "growth"}, headers=viewer).json()
    assert incident_id in [i["id"] for i in listed["incidents"]]
    assert {i["status"] for i in listed["incidents"]} == {"open"}
    assert {i["pipeline_id"] for i in listed["incidents"]} == {"growth"}
    assert api_client.get("/techflow/api/incidents", params={"status": "bogus"}, headers=viewer).status_code == 400
    assert api_client.get("/techflow/api/incidents/987654", headers=viewer).status_code == 404


def test_dag_view_shows_last_run_from_the_metadata_db_and_open_incidents(api_client, tokens):
    # Later than any run another test area leaves in the shared metadata DB, so it is the last one.
    run_after = datetime.now(timezone.utc) + timedelta(days=3)
    run_id = f"scheduled__{run_after:%Y-%m-%d}"
    record_dag_run("engagement", run_id, "failed", run_after)
    incident_id = open_incident("KafkaException: no events", pipeline_id="engagement", failure_class="kafka_outage")
    body = api_client.get("/techflow/api/dags/engagement", headers=bearer(tokens["viewer"])).json()
    assert body["pipeline"]["airflow"]["last_run"]["state"] == "failed"
    assert body["pipeline"]["airflow"]["last_run"]["run_id"] == run_id
    assert incident_id in [i["id"] for i in body["incidents"]["incidents"]]
    assert body["oncall"]["primary"]["id"]
    ownership = api_client.get("/techflow/api/ownership", headers=bearer(tokens["viewer"])).json()
    row = next(r for r in ownership["pipelines"] if r["pipeline_id"] == "engagement")
    assert row["airflow"]["last_run"]["state"] == "failed"


def test_dag_view_of_a_dag_that_is_no_pipeline_is_404(api_client, tokens):
    assert api_client.get("/techflow/api/dags/not_a_pipeline", headers=bearer(tokens["viewer"])).status_code == 404


def test_dag_tab_of_a_dag_that_is_no_pipeline_explains_itself_in_html(api_client, tokens):
    """Airflow shows the plugin's DAG tab on every DAG, the escalation engine's included."""
    viewer = bearer(tokens["viewer"])
    response = api_client.get("/techflow/dags/techflow_escalation_engine", headers=viewer)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    text = visible_text(response.text)
    assert "techflow_escalation_engine is not a TechFlow pipeline" in text
    assert '"detail"' not in response.text
    assert 'href="/techflow/oncall"' in response.text
    hostile = api_client.get("/techflow/dags/%3Cscript%3Ealert(1)%3C%2Fscript%3E", headers=viewer)
    assert hostile.status_code == 404 and executable_parts(hostile.text) == []


def test_task_log_link_is_kept_when_it_is_http(api_client, tokens):
    incident_id = open_incident("IOError: gone", task_id="extract", log_url="http://localhost:8080/dags/profit/runs/r/tasks/extract")
    html = api_client.get(f"/techflow/incidents/{incident_id}", headers=bearer(tokens["viewer"])).text
    assert '<a href="http://localhost:8080/dags/profit/runs/r/tasks/extract" rel="noopener noreferrer">task log</a>' in html


def test_editor_escalates_and_hands_over_from_the_incident_page(api_client, tokens):
    from techflow_ops import escalation
    from techflow_ops.failures import DataQualityFailure

    incident_id = escalation.report_failure(pipeline_id="profit", run_id="manual__handover", task_id="validate_sources",
                                            exception=DataQualityFailure("no expenses", failure_mode="missing_expenses"),
                                            deliver=False)
    viewer, editor = bearer(tokens["viewer"]), bearer(tokens["editor"])
    assert api_client.post(f"/techflow/api/incidents/{incident_id}/escalate", headers=viewer,
                           json={"to": "team:finance"}).status_code == 403
    assert api_client.post(f"/techflow/api/incidents/{incident_id}/escalate", headers=editor,
                           json={"to": "team:nope"}).status_code == 400
    body = api_client.get(f"/techflow/api/incidents/{incident_id}", headers=editor).json()
    assert body["severity"] == "critical" and body["failure_mode"] == "missing_expenses"
    assert body["handover"]["team"] == "operations"
    api_client.cookies.set("_token", tokens["editor"])
    try:
        page = api_client.get(f"/techflow/incidents/{incident_id}")
        assert 'data-testid="handover">Hand over to Operations (expense feeds)<' in page.text
        response = api_client.post(f"/techflow/incidents/{incident_id}/escalate",
                                   data={"csrf_token": csrf_from(page.text), "to": "missing_expenses"}, follow_redirects=False)
        assert response.status_code == 303, response.text
    finally:
        api_client.cookies.clear()
    timeline = api_client.get(f"/techflow/api/incidents/{incident_id}", headers=editor).json()["timeline"]
    [manual] = [e for e in timeline if e["kind"] == "escalated_manually"]
    assert manual["actor"] == "editor" and manual["data"]["recipients"] == ["operations"]
