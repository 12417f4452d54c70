"""The Inbox page and `GET /techflow/api/inbox`: what the local inbox caught, newest first, with
its incident, behind the same login as every page and following per-DAG read permission.
Pages are sent for real: the escalation engine through Airflow's providers to the catcher."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from techflow_ops.failures import KafkaOutage
from techflow_ops.inbox.catcher import Catcher
from techflow_ops.inbox.messages import Caught

from .conftest import bearer, open_incident
from .hostile import executable_parts, visible_text
from .test_dag_permissions import DENIED_DAG, viewer_denied_profit  # noqa: F401 - the fixture

HOSTILE_ERROR = 'KafkaOutage: <script>alert("inbox")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def catcher(web_env, monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with Catcher(db_url=web_env["TECHFLOW_OPS_DB_URL"]) as running:
        for name, value in running.connection_env().items():
            monkeypatch.setenv(name, value)
        yield running


def _record(incident_id: int | None, subject: str, at: datetime) -> int:
    from techflow_ops.inbox import store
    from techflow_ops.opsdb import get_engine

    return store.record(get_engine(), Caught("email", "x@techflow.example.com", subject, f"Incident #{incident_id}",
                                             incident_id, ""), at=at)


def test_the_inbox_lists_the_pages_of_an_incident_newest_first(api_client, tokens, catcher):
    from techflow_ops import escalation

    incident_id = escalation.report_failure(pipeline_id="engagement", run_id=f"manual__{uuid4().hex[:8]}", task_id="ingest",
                                            exception=KafkaOutage(HOSTILE_ERROR))
    viewer = bearer(tokens["viewer"])
    response = api_client.get("/techflow/api/inbox", params={"limit": 1000}, headers=viewer)
    assert response.status_code == 200, response.text
    listed = response.json()["messages"]
    stamps = [(m["received_at"], m["id"]) for m in listed]
    assert stamps == sorted(stamps, reverse=True)
    mine = [m for m in listed if m["incident_id"] == incident_id]
    assert {m["channel"] for m in mine} == {"email", "slack", "pagerduty"}, mine
    sent = escalation.get_incident(incident_id).notifications
    assert len(mine) == len(sent) and all(n["status"] == "delivered" for n in sent)
    for message in mine:
        assert set(message) == {"id", "received_at", "channel", "to", "subject", "body", "incident_id", "incident_url"}
        assert message["incident_url"].endswith(f"/techflow/incidents/{incident_id}")
        assert "Engagement" in message["subject"] and message["to"]
    assert any(HOSTILE_ERROR in m["body"] for m in mine)  # the page's text, as sent
    second = api_client.get("/techflow/api/inbox", params={"limit": 1, "offset": 1}, headers=viewer).json()["messages"]
    assert [m["id"] for m in second] == [listed[1]["id"]]

    page = api_client.get("/techflow/inbox", headers=viewer)
    assert page.status_code == 200
    html = page.text
    for message in mine:
        assert f'data-message="{message["id"]}"' in html
    assert html.index(f'data-message="{listed[0]["id"]}"') < html.index(f'data-message="{listed[-1]["id"]}"')
    assert f'href="/techflow/incidents/{incident_id}"' in html
    assert executable_parts(html) == [] and HOSTILE_ERROR in visible_text(html)  # shown as text, in a <pre>
    assert '<a href="/techflow/inbox" class="current" aria-current="page">Inbox</a>' in html
    assert 'href="/techflow/inbox"' in api_client.get("/techflow/oncall", headers=viewer).text  # in the nav


def test_the_inbox_needs_a_login(api_client):
    assert api_client.get("/techflow/api/inbox").status_code == 401
    page = api_client.get("/techflow/inbox", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and "login" in page.headers["location"]


def test_the_inbox_leaves_out_pages_of_dags_the_user_may_not_read(api_client, tokens, viewer_denied_profit):  # noqa: F811
    now = datetime.now(timezone.utc) + timedelta(days=1)  # newer than anything the other tests caught
    hidden_incident = open_incident("profit-only secret", pipeline_id=DENIED_DAG)
    shown_incident = open_incident("growth failure", pipeline_id="growth")
    hidden = [_record(hidden_incident, f"secret {n}", now + timedelta(seconds=n)) for n in range(3)]
    shown = [_record(shown_incident, "growth page", now + timedelta(seconds=3)), _record(None, "a shift notice", now - timedelta(seconds=1))]
    viewer = bearer(tokens["viewer"])
    first_two = api_client.get("/techflow/api/inbox", params={"limit": 2}, headers=viewer).json()["messages"]
    assert [m["id"] for m in first_two] == shown  # limit counts only what the viewer may read
    everything = [m["id"] for m in api_client.get("/techflow/api/inbox", params={"limit": 1000}, headers=viewer).json()["messages"]]
    assert not set(hidden) & set(everything)
    assert "secret" not in api_client.get("/techflow/inbox", headers=viewer).text
    admin = api_client.get("/techflow/api/inbox", params={"limit": 5}, headers=bearer(tokens["admin"])).json()["messages"]
    assert [m["id"] for m in admin] == [shown[0], *reversed(hidden), shown[1]]
