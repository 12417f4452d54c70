"""Run the ops DB's Alembic migrations from code, safely from many processes at once."""

from __future__ import annotations

import contextlib
import fcntl
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "techflow_ops_alembic_version"  # not `alembic_version`: the DB may be shared with other apps
_PG_ADVISORY_LOCK_KEY = 0x7EC4F10


def _alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option("version_table", VERSION_TABLE)
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The single head of the migration chain; raises if the chain forked."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(
            f"ops DB migrations in {MIGRATIONS_DIR} have {len(heads)} heads {heads}: "
            "set the newer revision's down_revision to the other head"
        )
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


@contextlib.contextmanager
def _migration_lock(url: str, engine: Engine):
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        lock_path = Path(parsed.database + ".migrate.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif parsed.get_backend_name() == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_ADVISORY_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_ADVISORY_LOCK_KEY})
                connection.commit()
    else:
        yield


def migrate_to_head(url: str, engine: Engine) -> str:
    """Bring the ops DB at `url` (reached through `engine`) to the latest revision; return it.

    Cheap when already current (one query). Concurrent callers serialise on a file lock
    (SQLite) or an advisory lock (PostgreSQL), so a burst of task processes starting on a
    fresh database migrates it exactly once.
    """
    head = head_revision()
    if current_revision(engine) == head:
        return head
    with _migration_lock(url, engine):
        if current_revision(engine) != head:
            from alembic import command

            config = _alembic_config(url)
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
    return head
