"""The ops database: incidents, their timeline and the notification outbox (and, through
further migrations, other areas' tables), reached by one SQLAlchemy URL.

The URL is `techflow_ops.settings.ops_db_url()`: a SQLite file under AIRFLOW_HOME by
default (WAL journal, busy timeout and `BEGIN IMMEDIATE` writes, because several task
processes write at once), PostgreSQL when `TECHFLOW_OPS_DB_URL` says so.

Schema changes are Alembic revisions in `opsdb/migrations/versions/`, one linear chain.
`get_engine()` upgrades the database to head lazily on first use in a process (a process
forked from a preloaded scheduler or Celery worker that did so already, `engine.verify_for_forks`,
skips it); `techflow-ops opsdb upgrade` does it explicitly.

Adding tables for another area (quality results, web, ...):
  1. declare them on `techflow_ops.opsdb.schema.metadata` in your own module
     (e.g. `techflow_ops/quality/tables.py`) so code can query them with SQLAlchemy Core;
  2. add a revision file `opsdb/migrations/versions/<NNNN>_<area>_<what>.py` whose
     `down_revision` is the current head (`techflow-ops opsdb heads` prints it) and whose
     `upgrade()` creates them with `op.create_table(...)`;
  3. the next `get_engine()` / `techflow-ops opsdb upgrade` applies it everywhere.
Keep the chain linear: two revisions with the same `down_revision` are refused by
`upgrade_to_head` (Alembic reports multiple heads).
"""

from .engine import dispose_engines, get_engine, make_engine, upgrade_to_head
from .migrations_runner import current_revision, head_revision

__all__ = ["current_revision", "dispose_engines", "get_engine", "head_revision", "make_engine", "upgrade_to_head"]
