"""Incidents and ownership rows follow Airflow's per-DAG read permission, not only the plugin view.

SimpleAuthManager grants by role, never per DAG, so `viewer_denied_profit` narrows the real
auth manager: the viewer may not read the `profit` DAG, everything else it decides as before.
"""

from __future__ import annotations

import pytest

from .conftest import bearer, open_incident

DENIED_DAG = "profit"
SECRET = "KeyError: profit-only secret column"


@pytest.fixture
def viewer_denied_profit(api_client, monkeypatch):
    from airflow.api_fastapi.app import get_auth_manager

    auth_manager = get_auth_manager()
    decide = auth_manager.is_authorized_dag

    def is_authorized_dag(*, method, user, access_entity=None, details=None):
        if user.get_name() == "viewer" and details is not None and details.id == DENIED_DAG:
            return False
        return decide(method=method, user=user, access_entity=access_entity, details=details)

    monkeypatch.setattr(auth_manager, "is_authorized_dag", is_authorized_dag)


def test_incident_of_an_unreadable_dag_is_refused(api_client, tokens, viewer_denied_profit):
    incident_id = open_incident(SECRET, pipeline_id=DENIED_DAG, log_url="http://localhost:8080/dags/profit/log")
    viewer = bearer(tokens["viewer"])
    for path in (f"/techflow/api/incidents/{incident_id}", f"/techflow/incidents/{incident_id}"):
        response = api_client.get(path, headers=viewer)
        assert response.status_code == 403, (path, response.status_code)
        assert SECRET not in response.text and "/log" not in response.text
    admin = api_client.get(f"/techflow/api/incidents/{incident_id}", headers=bearer(tokens["admin"]))
    assert admin.status_code == 200 and admin.json()["error"] == SECRET


def test_incident_lists_leave_out_unreadable_dags(api_client, tokens, viewer_denied_profit):
    hidden = open_incident(SECRET, pipeline_id=DENIED_DAG)
    shown = open_incident("ZeroDivisionError: growth is readable", pipeline_id="growth")
    viewer = bearer(tokens["viewer"])
    listed = api_client.get("/techflow/api/incidents", headers=viewer).json()["incidents"]
    ids = [i["id"] for i in listed]
    assert shown in ids and hidden not in ids
    assert DENIED_DAG not in {i["dag_id"] for i in listed}
    only_profit = api_client.get("/techflow/api/incidents", params={"pipeline_id": DENIED_DAG}, headers=viewer).json()
    assert only_profit["incidents"] == []
    page = api_client.get("/techflow/incidents", headers=viewer).text
    assert f'data-incident="{shown}"' in page and f'data-incident="{hidden}"' not in page and SECRET not in page
    everything = api_client.get("/techflow/api/incidents", headers=bearer(tokens["admin"])).json()["incidents"]
    assert hidden in [i["id"] for i in everything]


def test_paging_counts_only_readable_incidents(api_client, tokens, viewer_denied_profit):
    """limit/offset page through what the user may read, so a page is never cut short by hidden rows."""
    readable = [open_incident(f"growth failure {n}", pipeline_id="growth") for n in range(3)]
    for n in range(3):
        open_incident(f"{SECRET} {n}", pipeline_id=DENIED_DAG)
    viewer = bearer(tokens["viewer"])
    full = [i["id"] for i in api_client.get("/techflow/api/incidents", params={"limit": 1000}, headers=viewer).json()["incidents"]]
    assert set(readable) <= set(full)
    pages = [
        [i["id"] for i in api_client.get("/techflow/api/incidents", params={"limit": 2, "offset": o}, headers=viewer).json()["incidents"]]
        for o in range(0, len(full), 2)
    ]
    assert all(len(p) == 2 for p in pages[:-1])
    assert [i for p in pages for i in p] == full


def test_ownership_leaves_out_unreadable_dags(api_client, tokens, viewer_denied_profit):
    viewer = bearer(tokens["viewer"])
    rows = api_client.get("/techflow/api/ownership", headers=viewer).json()["pipelines"]
    assert DENIED_DAG not in {r["pipeline_id"] for r in rows}
    assert {"growth", "engagement"} <= {r["pipeline_id"] for r in rows}
    page = api_client.get("/techflow/ownership", headers=viewer).text
    assert f'data-pipeline="{DENIED_DAG}"' not in page and 'data-pipeline="growth"' in page
    admin_rows = api_client.get("/techflow/api/ownership", headers=bearer(tokens["admin"])).json()["pipelines"]
    assert DENIED_DAG in {r["pipeline_id"] for r in admin_rows}
