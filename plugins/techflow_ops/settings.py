"""Where things live, from the environment, with embedded defaults for one machine.

Every setting is an environment variable; the README's settings table lists them.
Nothing here imports Airflow, so the pure-Python core can use it too.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=8)
def _resolved(path: str) -> Path:
    # Every DAG parse asks for the config folder; resolving it walks the file system.
    return Path(path).resolve()


def resolved_path(path: str | os.PathLike) -> Path:
    """`Path(path).resolve()`, remembered per absolute spelling (symlinks are not expected to move)."""
    path = os.fspath(path)
    return _resolved(path) if os.path.isabs(path) else Path(path).resolve()


def _project_root() -> Path:
    explicit = os.environ.get("TECHFLOW_HOME")
    if explicit:
        return _resolved(explicit)
    # plugins/techflow_ops/settings.py -> project root, for a source checkout or editable install.
    return _resolved(__file__).parents[2]


def project_root() -> Path:
    return _project_root()


def config_dir() -> Path:
    return Path(os.environ.get("TECHFLOW_CONFIG_DIR") or project_root() / "include" / "config")


def runbooks_dir() -> Path:
    return Path(os.environ.get("TECHFLOW_RUNBOOKS_DIR") or project_root() / "include" / "runbooks")


def data_dir() -> Path:
    """Landing files, the default warehouse and generated reports (git-ignored)."""
    return Path(os.environ.get("TECHFLOW_DATA_DIR") or project_root() / "data")


def airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or project_root() / ".airflow")


def warehouse_url() -> str:
    return os.environ.get("TECHFLOW_WAREHOUSE_URL") or f"sqlite:///{data_dir() / 'warehouse.db'}"


def ops_db_url() -> str:
    return os.environ.get("TECHFLOW_OPS_DB_URL") or f"sqlite:///{airflow_home() / 'techflow_ops.db'}"


def airflow_base_url() -> str:
    return os.environ.get("TECHFLOW_AIRFLOW_BASE_URL") or os.environ.get(
        "AIRFLOW__API__BASE_URL", "http://localhost:8080"
    ).rstrip("/")


# Connect arguments for Airflow's own metadata DB when it is SQLite (`make start`), named by
# AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS[_ASYNC]. Scheduler, dag-processor, triggerer,
# api-server and the LocalExecutor's workers all write to that one file; with pysqlite's 5 s
# busy timeout a slow commit elsewhere turned a "Trigger" into a 500 "database is locked".
# Two dicts: Airflow adds check_same_thread to the sync one in place.
AIRFLOW_SQLITE_CONNECT_ARGS = {"timeout": 30}
AIRFLOW_SQLITE_CONNECT_ARGS_ASYNC = {"timeout": 30}
