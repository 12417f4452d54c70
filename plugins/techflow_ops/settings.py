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


LINK_SIGNING_KEY_FILE = "techflow_link_signing_key"  # under AIRFLOW_HOME, when TECHFLOW_LINK_SIGNING_KEY is unset
DEFAULT_LINK_MAX_AGE = "24h"


def link_signing_key() -> str:
    """The key that signs the acknowledge/resolve links in pages (`TECHFLOW_LINK_SIGNING_KEY`).

    Unset (the embedded mode), a random key is generated once into a 0600 file under
    AIRFLOW_HOME, so the api-server and the task processes that send pages agree on it.
    A new value (or a new file) invalidates every link signed with the old one."""
    explicit = os.environ.get("TECHFLOW_LINK_SIGNING_KEY", "").strip()
    if explicit:
        return explicit
    return _generated_key(airflow_home() / LINK_SIGNING_KEY_FILE)


def _generated_key(path: Path) -> str:
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole to a private temporary file, then linked into place: a process racing
    # this one either wins the link or reads the winner's key, never a half-written file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_text().strip()


def link_max_age():
    """How long an acknowledge/resolve link in a page stays valid (`TECHFLOW_LINK_MAX_AGE`,
    a duration such as `24h`, `30m`, `90s`), counted from its delivery."""
    from .registry.durations import parse_duration

    value = os.environ.get("TECHFLOW_LINK_MAX_AGE", "").strip() or DEFAULT_LINK_MAX_AGE
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"TECHFLOW_LINK_MAX_AGE={value!r}: {exc}") from None


# Connect arguments for Airflow's own metadata DB when it is SQLite (`make start`), named by
# AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS[_ASYNC]. Scheduler, dag-processor, triggerer,
# api-server and the LocalExecutor's workers all write to that one file; with pysqlite's 5 s
# busy timeout a slow commit elsewhere turned a "Trigger" into a 500 "database is locked".
# Two dicts: Airflow adds check_same_thread to the sync one in place.
AIRFLOW_SQLITE_CONNECT_ARGS = {"timeout": 30}
AIRFLOW_SQLITE_CONNECT_ARGS_ASYNC = {"timeout": 30}
