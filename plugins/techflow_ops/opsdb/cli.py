"""`techflow-ops opsdb upgrade|current|heads`."""

from __future__ import annotations

from .. import settings


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _upgrade(args) -> int:
    from .engine import upgrade_to_head

    url = args.url or settings.ops_db_url()
    print(f"{_redacted(url)}: at {upgrade_to_head(url)}")
    return 0


def _current(args) -> int:
    from .engine import make_engine
    from .migrations_runner import current_revision, head_revision

    url = args.url or settings.ops_db_url()
    engine = make_engine(url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    print(f"{_redacted(url)}: current {current or '<empty>'}, head {head}")
    return 0 if current == head else 1


def _heads(args) -> int:
    from .migrations_runner import head_revision

    print(head_revision())
    return 0


def register(subparsers) -> None:
    opsdb = subparsers.add_parser("opsdb", help="the ops database (incidents, outbox, ...)")
    sub = opsdb.add_subparsers(dest="opsdb_command", required=True)
    for name, handler, help_text in (
        ("upgrade", _upgrade, "migrate the ops DB to the latest schema"),
        ("current", _current, "print the current and head revision; exit 1 if behind"),
    ):
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("--url", default=None, help="SQLAlchemy URL (default: TECHFLOW_OPS_DB_URL or SQLite under AIRFLOW_HOME)")
        parser.set_defaults(handler=handler)
    sub.add_parser("heads", help="print the head revision (the down_revision for a new migration)").set_defaults(handler=_heads)
