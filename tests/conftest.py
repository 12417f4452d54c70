"""Shared fixtures and the test process's environment.

Every test session gets its own AIRFLOW_HOME, data folder and ops database in a temp
folder, set before Airflow is imported, so tests never touch a developer's `make start`
state and parallel sessions never share files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PROJECT_ROOT / "include" / "config"
VENV_BIN = Path(sys.executable).parent

# Test modules sometimes import this file as `tests.conftest`, which runs it a second time:
# the session folder must stay the one Airflow was pointed at the first time.
_SESSION_DIR = Path(os.environ.get("TECHFLOW_TEST_SESSION_DIR") or tempfile.mkdtemp(prefix="techflow-tests-"))
os.environ["TECHFLOW_TEST_SESSION_DIR"] = str(_SESSION_DIR)
os.environ.update(
    {
        "AIRFLOW_HOME": str(_SESSION_DIR / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "TECHFLOW_DATA_DIR": str(_SESSION_DIR / "data"),
        "TECHFLOW_OPS_DB_URL": f"sqlite:///{_SESSION_DIR / 'ops.db'}",
    }
)
os.environ.pop("TECHFLOW_WAREHOUSE_URL", None)
(_SESSION_DIR / "airflow").mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """An initialised Airflow metadata DB (SQLite) for dag.test() and friends."""
    subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped config folder, with runbooks resolvable from it."""
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    shutil.copytree(PROJECT_ROOT / "include" / "runbooks", tmp_path / "include" / "runbooks")
    return target


@pytest.fixture
def ops_db_url(tmp_path, monkeypatch) -> str:
    """A fresh SQLite ops DB for the test, the escalation service bound to it."""
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    monkeypatch.setenv("TECHFLOW_OPS_DB_URL", url)
    from techflow_ops.escalation import reset_service

    reset_service()
    yield url
    reset_service()
