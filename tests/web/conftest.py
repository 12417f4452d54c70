"""The TechFlow app mounted in Airflow's real API server app, with real SimpleAuthManager users.

Users and their roles: `viewer` (VIEWER: reads everything), `editor` (USER: may edit DAGs,
so may acknowledge and resolve), `admin` (ADMIN), and priya, marcus, sofia, jonas, dana (USER,
named after people.yaml ids: the on-call swap buttons act as that person). Passwords are written to the password
file the auth manager reads, so tests log in through `POST /auth/token` like any client.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

VENV_BIN_DIR = Path(sys.executable).parent
WEB_USERS = {"viewer": ("viewer", "viewer-pass"), "editor": ("user", "editor-pass"), "admin": ("admin", "admin-pass")}
# Users named after people.yaml ids (USER role), so the on-call swap buttons know who acts.
WEB_USERS.update({person: ("user", f"{person}-pass") for person in ("priya", "marcus", "sofia", "jonas", "dana")})


def airflow_web_env(home: Path) -> dict[str, str]:
    passwords = home / "web_passwords.json"
    passwords.write_text(json.dumps({name: password for name, (_, password) in WEB_USERS.items()}))
    return {
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{n}:{role}" for n, (role, _) in WEB_USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API__SECRET_KEY": "techflow-web-tests-secret-" + "k" * 40,
        "AIRFLOW__API_AUTH__JWT_SECRET": "techflow-web-tests-jwt-secret-" + "j" * 40,
    }


@pytest.fixture(scope="session")
def web_env(airflow_db, session_dir):
    env = airflow_web_env(session_dir)
    # A private ops DB: incidents and quality results other test areas leave behind in the
    # session's ops DB would otherwise show up in the pages these tests read.
    env["TECHFLOW_OPS_DB_URL"] = f"sqlite:///{session_dir / 'web-ops.db'}"
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def api_client(web_env):
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app("core"), base_url="http://localhost") as client:
        yield client


@pytest.fixture(scope="session")
def tokens(api_client) -> dict[str, str]:
    issued = {}
    for name, (_, password) in WEB_USERS.items():
        response = api_client.post("/auth/token", json={"username": name, "password": password})
        assert response.status_code == 201, response.text
        issued[name] = response.json()["access_token"]
    return issued


@pytest.fixture
def hostile_config(config_copy, tmp_path, monkeypatch):
    """A config folder whose names and runbook try to inject HTML and script."""
    import yaml

    from techflow_ops.registry import clear_registry_cache

    from .hostile import HOSTILE_RUNBOOK, IMG_TEAM, SCRIPT_NAME

    runbook = tmp_path / "hostile_profit.md"
    runbook.write_text(HOSTILE_RUNBOOK)
    edits = {
        "people.yaml": lambda d: d["people"][[p["id"] for p in d["people"]].index("priya")].update(name=SCRIPT_NAME),
        "teams.yaml": lambda d: d["teams"][[t["id"] for t in d["teams"]].index("finance")].update(name=IMG_TEAM),
        "pipelines.yaml": lambda d: d["pipelines"][0].update(runbook=str(runbook)),
    }
    for file_name, edit in edits.items():
        path = config_copy / file_name
        data = yaml.safe_load(path.read_text())
        edit(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("TECHFLOW_CONFIG_DIR", str(config_copy))
    clear_registry_cache()
    yield config_copy
    clear_registry_cache()


def record_dag_run(dag_id: str, run_id: str, state: str, run_after) -> None:
    """One run (and the DAG row if missing) in the real metadata DB, as the scheduler would leave them."""
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        if session.get(DagBundleModel, "techflow_web_tests") is None:
            session.add(DagBundleModel(name="techflow_web_tests"))
            session.flush()
        if session.get(DagModel, dag_id) is None:  # keep a DAG the dag-processor serialized as it is
            session.add(DagModel(dag_id=dag_id, bundle_name="techflow_web_tests", is_stale=False, is_paused=False))
            session.flush()
        session.add(DagRun(dag_id=dag_id, run_id=run_id, run_type="manual", state=state, run_after=run_after))


def open_incident(error: str, *, pipeline_id: str = "profit", task_id: str = "load", failure_class: str = "task_error",
                  log_url: str | None = None) -> int:
    """A real incident in the session's ops DB, opened the way a failure callback opens one."""
    from uuid import uuid4

    from techflow_ops import escalation

    return escalation.report_failure(
        pipeline_id=pipeline_id, run_id=f"manual__{uuid4().hex[:8]}", task_id=task_id,
        error=error, failure_class=failure_class, log_url=log_url, deliver=False,
    )


def csrf_from(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
