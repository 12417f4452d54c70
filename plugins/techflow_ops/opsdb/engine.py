"""Engine factory for the ops database, with the SQLite settings concurrent writers need."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from .. import settings
from ..sqlengines import EngineCache
from .migrations_runner import head_revision, migrate_to_head

SQLITE_BUSY_TIMEOUT_MS = 30_000

_engines = EngineCache()
# URL -> the revision `verify_for_forks` found it at, in a process that forks task processes.
# Forked children inherit it and so skip their own schema check (see `_make_migrated_engine`).
_verified_heads: dict[str, str] = {}


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # pysqlite's own transaction handling defers BEGIN and cannot do BEGIN IMMEDIATE;
        # switch it off and begin explicitly below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # Take the write lock up front: a deferred transaction that reads and then writes
        # fails with SQLITE_BUSY instead of waiting when another process wrote meanwhile.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | None = None) -> Engine:
    """A new engine for `url` (default: the configured ops DB), without running migrations."""
    url = url or settings.ops_db_url()
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            # The default lives under AIRFLOW_HOME, which a fresh clone has not created yet.
            Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        # Pooled: closing the last connection to a WAL database checkpoints it, a cost per use.
        # Engines are per process (see get_engine), so no pooled connection crosses a fork.
        engine = create_engine(url, pool_size=2, max_overflow=8, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    # values_plus_batch: bulk step updates go in pages (psycopg2 would send them one by one)
    kwargs = (
        {"executemany_mode": "values_plus_batch"}
        if make_url(url).get_driver_name() == "psycopg2" else {}
    )
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4, **kwargs)


def _make_migrated_engine(url: str) -> Engine:
    engine = make_engine(url)
    if _verified_heads.get(url) != head_revision():
        migrate_to_head(url, engine)
    return engine


def verify_for_forks(url: str | None = None) -> str:
    """In a process that forks task processes (the preloaded scheduler or Celery worker): bring
    the ops DB at `url` to head now, with a short-lived engine closed before this returns (no
    connection crosses a fork), and record it, so the engines its forked children make skip
    the per-process schema check (a query or two per task process). Return the revision."""
    url = url or settings.ops_db_url()
    head = upgrade_to_head(url)
    _verified_heads[url] = head
    return head


def verified_by_parent(url: str | None = None) -> bool:
    """True when this process skips the schema check for `url` (a parent verified it)."""
    return _verified_heads.get(url or settings.ops_db_url()) == head_revision()


def forget_verified(url: str | None = None) -> None:
    """Check the schema again on the next engine (all URLs when `url` is None): the ops DB
    may have been replaced since the parent verified it."""
    if url is None:
        _verified_heads.clear()
    else:
        _verified_heads.pop(url, None)


def upgrade_to_head(url: str | None = None, *, engine: Engine | None = None) -> str:
    """Bring the ops DB at `url` to the latest revision (with a short-lived engine unless one
    is given); return that revision."""
    url = url or settings.ops_db_url()
    if engine is not None:
        return migrate_to_head(url, engine)
    engine = make_engine(url)
    try:
        return migrate_to_head(url, engine)
    finally:
        engine.dispose()


def get_engine(url: str | None = None) -> Engine:
    """This process's engine for `url`, upgraded to the latest schema on first use."""
    return _engines.get(url or settings.ops_db_url(), _make_migrated_engine)


def dispose_engines() -> None:
    _engines.dispose()


def hand_down_engines() -> list[str]:
    """In a process about to fork task processes: close this process's ops DB connections and
    let its children adopt its engines, caches warm (`sqlengines.EngineCache.hand_down`)."""
    return _engines.hand_down()
