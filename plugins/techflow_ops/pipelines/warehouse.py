"""The warehouse: every landing-staging, output and bookkeeping table, defined once.

Other areas import table objects and names from here (quality suites, runbooks, the UI),
never spell them by hand. The SQL is SQLAlchemy Core only, so the same statements run on
the embedded SQLite file and on PostgreSQL.

Layers:
- `stg_<source>`: landed rows, typed, one row per landed record (duplicates kept on
  purpose, so data-quality checks can see them), partitioned by `partition_date` (the
  landing day; the first of the month for monthly sources).
- outputs: the tables named in `include/config/pipelines.yaml` (`profit_daily_account`,
  `growth_weekly`, ...), each partitioned by its date column.
- bookkeeping: `rejects` (rows that could not be typed, with source, reason and raw
  row), `landing_partitions` (what each load found), `pipeline_runs` (one row per
  pipeline and date published, read by aggregated pipelines and the UI).

Where the warehouse is: the Airflow connection `techflow_warehouse` when it is defined
(environment `AIRFLOW_CONN_TECHFLOW_WAREHOUSE`, JSON or URI form, or the metadata DB when
running inside Airflow), else `settings.warehouse_url()` (a SQLite file under the data
folder). Connections are read with Airflow's own `Connection`, imported only when one is
defined, so the default path and DAG parsing never import it.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from .. import settings
from ..sqlengines import EngineCache

_log = logging.getLogger(__name__)

WAREHOUSE_CONN_ID = "techflow_warehouse"

metadata = MetaData()


def _run_id() -> Column:
    return Column("run_id", String(250), nullable=False)


def _partition() -> Column:
    return Column("partition_date", Date, nullable=False)


#: Nested values (lists of features, the cost breakdown) as JSON both backends can query:
#: `table.c.cost_breakdown["cloud_services"].as_float()` is json_extract on SQLite and
#: ->> on PostgreSQL. JSONB there, because DISTINCT and GROUP BY need equality on the column.
JSONColumn = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _raw() -> Column:
    """Fields a record carried beyond its contract, kept as they came (NULL when none)."""
    return Column("raw", JSONColumn)


# --- staging: one table per landed source -------------------------------------------------
# Text columns are unbounded: a contract accepts text of any length, and PostgreSQL would
# refuse the whole partition over one long user agent where SQLite stores it.

stg_revenue = Table(
    "stg_revenue", metadata,
    _partition(),
    Column("account_id", Text, nullable=False),
    Column("subscription_tier", Text, nullable=False),
    Column("monthly_revenue", Float, nullable=False),
    Column("user_licenses", Integer, nullable=False),
    Column("additional_features", JSONColumn, nullable=False),
    Column("feature_revenue", Float, nullable=False),
    Column("total_monthly_revenue", Float, nullable=False),
    Column("billing_date", Date, nullable=False),
    Column("payment_status", Text, nullable=False),
    _raw(), _run_id(),
)

stg_ledger = Table(
    "stg_ledger", metadata,
    _partition(),
    Column("account_id", Text, nullable=False),
    Column("ledger_month", Date, nullable=False),
    Column("recognized_revenue", Float, nullable=False),
    Column("entry_id", Text, nullable=False),
    _raw(), _run_id(),
)

stg_expenses = Table(
    "stg_expenses", metadata,
    _partition(),
    Column("account_id", Text, nullable=False),
    Column("expense_category", Text, nullable=False),
    Column("monthly_cost", Float, nullable=False),
    Column("cost_breakdown", JSONColumn, nullable=False),  # {"cloud_services": 5000.0, ...}
    Column("expense_date", Date, nullable=False),
    _raw(), _run_id(),
)

stg_salaries = Table(
    "stg_salaries", metadata,
    _partition(),
    Column("team_id", Text, nullable=False),
    Column("team_name", Text, nullable=False),
    Column("monthly_salary_total", Float, nullable=False),
    Column("headcount", Integer, nullable=False),
    Column("cost_per_engineer", Float, nullable=False),
    Column("salary_month", Date, nullable=False),  # the export's "YYYY-MM", as the month's first day
    _raw(), _run_id(),
)

stg_account_status_changes = Table(
    "stg_account_status_changes", metadata,
    _partition(),
    Column("account_id", Text, nullable=False),
    Column("previous_status", Text),  # NULL for a brand-new account
    Column("new_status", Text, nullable=False),
    Column("change_date", Date, nullable=False),
    Column("change_reason", Text, nullable=False),
    Column("sales_rep", Text),
    Column("contract_value", Float, nullable=False),
    _raw(), _run_id(),
)

stg_license_changes = Table(
    "stg_license_changes", metadata,
    _partition(),
    Column("account_id", Text, nullable=False),
    Column("previous_licenses", Integer, nullable=False),
    Column("new_licenses", Integer, nullable=False),
    Column("change_date", Date, nullable=False),
    Column("change_type", Text, nullable=False),
    Column("additional_revenue", Float, nullable=False),
    Column("effective_date", Date, nullable=False),
    _raw(), _run_id(),
)

stg_renewals = Table(
    "stg_renewals", metadata,
    _partition(),
    Column("account_id", Text, nullable=False),
    Column("renewal_date", Date, nullable=False),
    Column("previous_contract_value", Float, nullable=False),
    Column("new_contract_value", Float, nullable=False),
    Column("renewal_type", Text, nullable=False),
    Column("contract_duration_months", Integer, nullable=False),  # the export's "12 months"
    _raw(), _run_id(),
)

stg_click_events = Table(
    "stg_click_events", metadata,
    _partition(),
    Column("partition_hour", Integer, nullable=False),
    # The export has no event id: the same (user, session, timestamp, type, feature, page)
    # twice is one event landed twice (contracts._event_key).
    Column("event_key", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("account_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("feature_name", Text),
    Column("event_ts", DateTime, nullable=False),
    Column("event_date", Date, nullable=False),
    Column("is_late", Boolean, nullable=False),  # arrived more than 48 h after it happened
    Column("session_id", Text),
    Column("page_url", Text),
    Column("user_agent", Text),
    Column("ip_address", Text),
    _raw(), _run_id(),
)

stg_usage_sessions = Table(
    "stg_usage_sessions", metadata,
    _partition(),
    Column("session_key", Text, nullable=False),  # user and session start: the export has no id
    Column("user_id", Text, nullable=False),
    Column("account_id", Text, nullable=False),
    Column("session_start", DateTime, nullable=False),
    Column("session_end", DateTime, nullable=False),
    Column("total_active_time_minutes", Float, nullable=False),
    Column("features_used", JSONColumn, nullable=False),
    Column("device_type", Text, nullable=False),
    _raw(), _run_id(),
)

stg_team_activity = Table(
    "stg_team_activity", metadata,
    _partition(),
    Column("account_id", Text, nullable=False),
    Column("team_id", Text, nullable=False),
    Column("activity_date", Date, nullable=False),  # the export's `date`
    Column("active_users", Integer, nullable=False),
    Column("total_session_time_hours", Float, nullable=False),
    Column("features_accessed", JSONColumn, nullable=False),
    Column("api_calls", Integer, nullable=False),
    Column("reports_generated", Integer, nullable=False),
    _raw(), _run_id(),
)

#: source name (as in `synthetic` and `pipelines.yaml` `sources`) -> staging table
STAGING: dict[str, Table] = {
    "revenue": stg_revenue,
    "ledger": stg_ledger,
    "expenses": stg_expenses,
    "salaries": stg_salaries,
    "account_status_changes": stg_account_status_changes,
    "license_changes": stg_license_changes,
    "renewals": stg_renewals,
    "click_events": stg_click_events,
    "usage_sessions": stg_usage_sessions,
    "team_activity": stg_team_activity,
}

# --- outputs -------------------------------------------------------------------------------

profit_daily_account = Table(
    "profit_daily_account", metadata,
    Column("date", Date, nullable=False),
    Column("account_id", String(32), nullable=False),
    Column("subscription_tier", String(32), nullable=False),
    Column("revenue", Float, nullable=False),
    Column("expenses", Float, nullable=False),
    Column("salaries", Float, nullable=False),
    Column("profit", Float, nullable=False),
    Column("subscribers", Integer, nullable=False),
    Column("unit_profit", Float),  # NULL when the account has zero subscribers
    Column("zero_subscribers", Boolean, nullable=False),
    _run_id(),
)

profit_monthly = Table(
    "profit_monthly", metadata,
    Column("month", Date, nullable=False),
    Column("accounts", Integer, nullable=False),
    Column("subscribers", Integer, nullable=False),
    Column("revenue", Float, nullable=False),
    Column("ledger_revenue", Float, nullable=False),
    Column("revenue_vs_ledger", Float),  # (revenue - ledger) / ledger; NULL without a ledger
    Column("expenses", Float, nullable=False),
    Column("salaries", Float, nullable=False),
    Column("profit", Float, nullable=False),
    Column("unit_profit", Float),
    _run_id(),
)

_GROWTH_COUNTS = (
    "new_accounts", "converted", "upgraded", "downgraded", "churned",
    "licenses_added", "licenses_removed", "license_growth", "renewals",
)


def _growth_columns() -> list[Column]:
    return [Column(name, Integer, nullable=False) for name in _GROWTH_COUNTS] + [
        Column("renewal_value_change", Float, nullable=False),
    ]


growth_daily = Table(
    "growth_daily", metadata,
    Column("date", Date, nullable=False),
    *_growth_columns(),
    Column("active_accounts", Integer, nullable=False),  # Active at the end of the day
    Column("trial_accounts", Integer, nullable=False),
    _run_id(),
)

growth_weekly = Table(
    "growth_weekly", metadata,
    Column("week_start", Date, nullable=False),  # Monday
    Column("days", Integer, nullable=False),  # days of the week with a daily row so far
    *_growth_columns(),
    Column("active_accounts", Integer, nullable=False),  # at the end of the last day present
    _run_id(),
)

growth_monthly = Table(
    "growth_monthly", metadata,
    Column("month", Date, nullable=False),
    Column("days", Integer, nullable=False),
    *_growth_columns(),
    Column("active_accounts", Integer, nullable=False),
    _run_id(),
)

engagement_daily = Table(
    "engagement_daily", metadata,
    Column("date", Date, nullable=False),
    Column("account_id", String(32), nullable=False),
    Column("daily_active_users", Integer, nullable=False),
    Column("events", Integer, nullable=False),  # distinct events (event_key), on-time events only
    Column("sessions", Integer, nullable=False),
    Column("session_minutes", Float, nullable=False),
    Column("features_used", Integer, nullable=False),
    Column("api_calls", Integer, nullable=False),
    Column("reports_generated", Integer, nullable=False),
    _run_id(),
)

engagement_feature_daily = Table(
    "engagement_feature_daily", metadata,
    Column("date", Date, nullable=False),
    Column("feature_name", String(64), nullable=False),
    Column("events", Integer, nullable=False),
    Column("users", Integer, nullable=False),
    _run_id(),
)


def _engagement_period_columns() -> list[Column]:
    return [
        Column("days", Integer, nullable=False),
        Column("active_users", Integer, nullable=False),  # distinct users over the period
        Column("active_accounts", Integer, nullable=False),
        Column("avg_daily_active_users", Float, nullable=False),
        Column("events", Integer, nullable=False),
        Column("session_minutes", Float, nullable=False),
        Column("avg_session_minutes", Float),  # NULL without sessions
    ]


engagement_weekly = Table(
    "engagement_weekly", metadata, Column("week_start", Date, nullable=False), *_engagement_period_columns(), _run_id()
)
engagement_monthly = Table(
    "engagement_monthly", metadata, Column("month", Date, nullable=False), *_engagement_period_columns(), _run_id()
)


def _executive_columns() -> list[Column]:
    return [
        Column("revenue", Float, nullable=False),
        Column("profit", Float, nullable=False),
        Column("profit_margin", Float),  # NULL when revenue is zero
        Column("new_accounts", Integer, nullable=False),
        Column("converted", Integer, nullable=False),
        Column("churned", Integer, nullable=False),
        Column("license_growth", Integer, nullable=False),
        Column("active_accounts", Integer, nullable=False),
        Column("active_users", Integer, nullable=False),
        Column("avg_daily_active_users", Float, nullable=False),
        Column("session_minutes", Float, nullable=False),
        Column("profit_days", Integer, nullable=False),
        Column("growth_days", Integer, nullable=False),
        Column("engagement_days", Integer, nullable=False),
    ]


executive_weekly = Table(
    "executive_weekly", metadata, Column("week_start", Date, nullable=False), *_executive_columns(), _run_id()
)
investor_monthly = Table(
    "investor_monthly", metadata,
    Column("month", Date, nullable=False),
    *_executive_columns(),
    Column("unit_profit", Float),
    Column("revenue_vs_ledger", Float),
    _run_id(),
)

experiment_daily_unit = Table(
    "experiment_daily_unit", metadata,
    Column("date", Date, nullable=False),
    Column("account_id", String(32), nullable=False),
    Column("subscription_tier", String(32)),
    Column("status", String(32)),  # latest known account status at the end of the day
    Column("subscribers", Integer),
    Column("profit", Float),
    Column("unit_profit", Float),
    Column("license_change", Integer, nullable=False),
    Column("daily_active_users", Integer, nullable=False),
    Column("events", Integer, nullable=False),
    Column("session_minutes", Float, nullable=False),
    _run_id(),
)

#: output table name -> (table, partition column)
OUTPUTS: dict[str, tuple[Table, str]] = {
    t.name: (t, col)
    for t, col in (
        (profit_daily_account, "date"), (profit_monthly, "month"),
        (growth_daily, "date"), (growth_weekly, "week_start"), (growth_monthly, "month"),
        (engagement_daily, "date"), (engagement_feature_daily, "date"),
        (engagement_weekly, "week_start"), (engagement_monthly, "month"),
        (executive_weekly, "week_start"), (investor_monthly, "month"),
        (experiment_daily_unit, "date"),
    )
}

# --- bookkeeping ---------------------------------------------------------------------------

rejects = Table(
    "rejects", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("partition_date", Date, nullable=False),
    Column("location", String(512), nullable=False),  # landing file and line number
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
    _run_id(),
    Column("rejected_at", DateTime, nullable=False),
)

landing_partitions = Table(
    "landing_partitions", metadata,
    Column("source", String(64), nullable=False),
    Column("partition_date", Date, nullable=False),
    Column("partition_key", String(32), nullable=False),  # "" or the hour ("13") for hourly sources
    Column("present", Boolean, nullable=False),
    Column("rows_loaded", Integer, nullable=False),
    Column("rows_rejected", Integer, nullable=False),
    Column("newest_record", DateTime),  # newest timestamp/date in the partition's rows
    # When the landing file was written (its mtime, UTC): for the Kafka sink's hourly files,
    # the consumer's commit of that hour, so written_at - the hour's close is the consumer lag.
    Column("written_at", DateTime),
    # Click events: the Kafka consumer's lag when it committed the hour's file, measured at ingest
    # and kept per hourly partition (`ingest.consumer_lag_seconds`); NULL for other sources.
    Column("consumer_lag_seconds", Float),
    Column("loaded_at", DateTime, nullable=False),
    _run_id(),
)

pipeline_runs = Table(
    "pipeline_runs", metadata,
    Column("pipeline_id", String(64), nullable=False),
    Column("date", Date, nullable=False),
    Column("run_id", String(250), nullable=False),
    Column("status", String(16), nullable=False),  # "published"
    Column("rows_written", Integer, nullable=False),
    Column("rows_rejected", Integer, nullable=False),
    Column("summary", Text, nullable=False),  # JSON RunSummary
    Column("finished_at", DateTime, nullable=False),
)

Index("ix_stg_click_events_event_date", stg_click_events.c.event_date)
Index("ix_rejects_source_partition", rejects.c.source, rejects.c.partition_date)
Index("ix_pipeline_runs_pipeline_date", pipeline_runs.c.pipeline_id, pipeline_runs.c.date)
for _table in STAGING.values():
    Index(f"ix_{_table.name}_partition", _table.c.partition_date)
for _name, (_table, _column) in OUTPUTS.items():
    Index(f"ix_{_name}_{_column}", _table.c[_column])


# --- engine --------------------------------------------------------------------------------

_DRIVERS = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2", "sqlite": "sqlite"}


def _url_from_connection(conn) -> str:
    """The SQLAlchemy URL of an Airflow connection (`airflow.sdk.Connection` or a hook's)."""
    extra = conn.extra_dejson
    if extra.get("sqlalchemy_url"):
        return extra["sqlalchemy_url"]
    if conn.conn_type == "sqlite":
        # JSON form keeps the file in `host`; the URI form sqlite:////abs/path.db parses it into `schema`.
        return f"sqlite:///{conn.host or conn.schema or ''}"
    if conn.conn_type not in _DRIVERS:
        raise ValueError(f"connection {WAREHOUSE_CONN_ID!r}: conn_type {conn.conn_type!r} is not supported (sqlite, postgres)")
    return URL.create(_DRIVERS[conn.conn_type], username=conn.login, password=conn.password, host=conn.host,
                      port=conn.port, database=conn.schema).render_as_string(hide_password=False)


def _url_from_env_connection(value: str) -> str:
    """Read `AIRFLOW_CONN_TECHFLOW_WAREHOUSE` (JSON or URI form) as Airflow's secrets backend would."""
    from airflow.sdk import Connection  # imports Airflow: only when the connection is defined

    value = value.strip()
    if value.startswith("{"):
        conn = Connection.from_json(value, conn_id=WAREHOUSE_CONN_ID)
    else:
        conn = Connection.from_uri(value, conn_id=WAREHOUSE_CONN_ID)
    return _url_from_connection(conn)


def warehouse_url() -> str:
    """The one SQLAlchemy URL of the warehouse (see the module docstring for the order)."""
    env_conn = os.environ.get(f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}")
    if env_conn:
        return _url_from_env_connection(env_conn)
    return settings.warehouse_url()


def warehouse_url_in_airflow() -> str:
    """Inside an Airflow task: also honour a `techflow_warehouse` connection stored in the metadata DB."""
    if os.environ.get(f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}"):
        return warehouse_url()
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(WAREHOUSE_CONN_ID)
    except AirflowNotFoundException:
        return settings.warehouse_url()
    return _url_from_connection(conn)


_engines = EngineCache()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (quality checks, the UI) work while a load writes; the busy timeout
    # makes concurrent writers (parallel tasks) wait instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _create_tables(engine: Engine, attempts: int = 5) -> None:
    """Create missing tables; parallel tasks on a fresh warehouse race here, the losers retry."""
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            _align_existing_tables(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            if attempt == attempts - 1 or not any(
                marker in str(exc).lower() for marker in ("already exists", "duplicate key", "database is locked")
            ):
                raise
            time.sleep(0.2 * (attempt + 1))


def _align_existing_tables(engine: Engine) -> None:
    """Bring tables an older version created up to this version's columns.

    A missing nullable column is added. A staging table whose columns changed otherwise
    (a new contract version renamed or dropped fields) is rebuilt empty: staging is derived
    from the landing files, so the next load of a partition fills it again. Any other table
    that does not match is an error that names it, never a silent mismatch.
    """
    inspector = inspect(engine)
    existing = set(inspector.get_table_names())
    staging = {table.name for table in STAGING.values()}
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        wanted = {column.name for column in table.columns}
        if present == wanted:
            continue
        missing = [table.c[name] for name in sorted(wanted - present)]
        if present < wanted and all(column.nullable for column in missing):
            with engine.begin() as conn:
                for column in missing:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
            continue
        if table.name in staging:
            _log.warning("staging table %s has columns %s, the data contracts want %s: rebuilding it empty; "
                         "reload its partitions from landing", table.name, sorted(present), sorted(wanted))
            table.drop(engine)
            table.create(engine)
            continue
        raise RuntimeError(f"warehouse table {table.name!r} has columns {sorted(present)}, this version expects "
                           f"{sorted(wanted)}: migrate or drop it (outputs are rebuilt by re-running the pipeline)")


# --- the warehouse query limit -------------------------------------------------------------
# Every statement gets the brief's "warehouse queries under 30 seconds" as a hard limit: on
# PostgreSQL the server's `statement_timeout` (set on every connection), on SQLite a progress
# handler that interrupts a statement running past it. Either way the statement fails with
# `WarehouseQueryTimeout` (a TimeoutError: failure class `timeout`, never retried).

QUERY_LIMIT_ENV = "TECHFLOW_WAREHOUSE_QUERY_LIMIT"
#: SQLite VM instructions between two looks at the clock (a few hundred microseconds).
PROGRESS_EVERY = 10_000
_STARTED, _TIMED_OUT = "techflow_statement_started", "techflow_statement_timed_out"


def query_limit() -> timedelta:
    """The statement limit of the warehouse engines: `TECHFLOW_WAREHOUSE_QUERY_LIMIT` (a duration)
    when set, else the registry's (`Registry.warehouse_query_limit`: the longest `limits.query`);
    the brief's 30 s, logged, when the registry cannot be read (the warehouse must stay usable)."""
    value = os.environ.get(QUERY_LIMIT_ENV, "").strip()
    if value:
        from ..registry import parse_duration

        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ValueError(f"{QUERY_LIMIT_ENV}={value!r}: {exc}") from None
    from ..registry import Limits, get_registry

    try:
        return get_registry().warehouse_query_limit()
    except Exception as exc:  # noqa: BLE001 - a broken registry is reported elsewhere; keep the guard on
        default = Limits().query
        _log.warning("warehouse query limit: the registry could not be read (%s); using %ss", exc,
                     default.total_seconds())
        return default


def _limit_text(seconds: float) -> str:
    from ..registry import format_duration

    return format_duration(timedelta(seconds=seconds)) if seconds >= 1 else f"{seconds:g}s"


def _guard_statements(engine: Engine, limit_seconds: float, *, sqlite: bool) -> None:
    """Install the statement limit on `engine` and turn a cancelled statement into WarehouseQueryTimeout."""
    from .transient import QUERY_CANCELED, WarehouseQueryTimeout

    if sqlite:
        def on_connect(dbapi_connection, record) -> None:
            state = record.info

            def over_limit() -> int:
                started = state.get(_STARTED)
                if started is not None and time.monotonic() - started > limit_seconds:
                    state[_TIMED_OUT] = True
                    return 1  # SQLite interrupts the statement ("interrupted")
                return 0

            dbapi_connection.set_progress_handler(over_limit, PROGRESS_EVERY)

        def before(conn, cursor, statement, parameters, context, executemany) -> None:
            conn.info[_STARTED] = time.monotonic()
            conn.info.pop(_TIMED_OUT, None)

        def after(conn, cursor, statement, parameters, context, executemany) -> None:
            conn.info.pop(_STARTED, None)

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)

    def on_error(context) -> None:
        info = context.connection.info if context.connection is not None else {}
        info.pop(_STARTED, None)
        original = context.original_exception
        cancelled = info.pop(_TIMED_OUT, False) if sqlite else (
            getattr(original, "pgcode", None) == QUERY_CANCELED and "statement timeout" in str(original))
        if not cancelled:
            return
        statement = " ".join((context.statement or "").split())
        guard = "SQLite progress-handler guard" if sqlite else "PostgreSQL statement_timeout"
        raise WarehouseQueryTimeout(
            f"the query exceeded the warehouse query limit of {_limit_text(limit_seconds)} and was cancelled "
            f"({guard}): {statement[:300]}",
            limit_seconds=limit_seconds, statement=context.statement,
        ) from original

    event.listen(engine, "handle_error", on_error)


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    limit_seconds = query_limit().total_seconds()
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        _guard_statements(engine, limit_seconds, sqlite=True)
    else:
        connect_args = {}
        if parsed.get_backend_name() == "postgresql":
            connect_args["options"] = f"-c statement_timeout={max(1, round(limit_seconds * 1000))}"
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
        _guard_statements(engine, limit_seconds, sqlite=False)
    _create_tables(engine)
    return engine


def get_engine(url: str | None = None) -> Engine:
    """This process's engine for `url` (default: `warehouse_url()`), tables created on first use."""
    return _engines.get(url or warehouse_url(), _make_engine)


def dispose_engines() -> None:
    _engines.dispose()


# --- frozen report snapshots and their sign-offs (written by `techflow_ops.reports`) -------
# `investor_monthly` and `executive_weekly` are rewritten by every daily run; what investors
# and executives were given is the copy frozen at the period's end. Rows are only ever
# inserted: a re-run of a frozen period adds the next version.

def _snapshot_columns() -> list[Column]:
    return [
        Column("version", Integer, nullable=False),  # 1, 2, ... per period
        Column("days_in_period", Integer, nullable=False),
        Column("complete", Boolean, nullable=False),  # profit, growth and engagement cover every day
        Column("dq_status", String(16), nullable=False),  # passed | warned | failed | not_validated
        Column("dq_result_id", Integer),  # quality_results.id (ops DB) of this build's validation
        Column("dq_validated_at", DateTime),
        Column("dq_failed_checks", Text, nullable=False),  # JSON [{check, severity, observed}]
        Column("upstream_runs", Text, nullable=False),  # JSON [{pipeline_id, date, run_id, finished_at}]
        Column("frozen_at", DateTime, nullable=False),
        Column("frozen_by_run_id", String(250), nullable=False),
    ]


investor_monthly_snapshots = Table(
    "investor_monthly_snapshots", metadata,
    Column("month", Date, nullable=False),
    *_snapshot_columns(),
    *_executive_columns(),
    Column("unit_profit", Float),
    Column("revenue_vs_ledger", Float),
    _run_id(),  # the run that built the frozen row
)
executive_weekly_snapshots = Table(
    "executive_weekly_snapshots", metadata,
    Column("week_start", Date, nullable=False),
    *_snapshot_columns(),
    *_executive_columns(),
    _run_id(),
)

report_signoffs = Table(
    "report_signoffs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("report", String(64), nullable=False),  # investor_monthly | executive_weekly
    Column("period_start", Date, nullable=False),
    Column("version", Integer, nullable=False),  # the snapshot version signed
    Column("signed_by", String(64), nullable=False),  # person id (people.yaml)
    Column("team_id", String(64), nullable=False),
    Column("signed_at", DateTime, nullable=False),
)

#: output table -> (its snapshot table, partition column)
SNAPSHOTS: dict[str, tuple[Table, str]] = {
    "investor_monthly": (investor_monthly_snapshots, "month"),
    "executive_weekly": (executive_weekly_snapshots, "week_start"),
}

# Unique: two runs freezing the same period at once cannot both take one version number.
Index("uq_investor_monthly_snapshots_version", investor_monthly_snapshots.c.month,
      investor_monthly_snapshots.c.version, unique=True)
Index("uq_executive_weekly_snapshots_version", executive_weekly_snapshots.c.week_start,
      executive_weekly_snapshots.c.version, unique=True)
Index("uq_report_signoffs_version", report_signoffs.c.report, report_signoffs.c.period_start,
      report_signoffs.c.version, unique=True)
