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

import os
import time

from sqlalchemy import (
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
)
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from .. import settings
from ..sqlengines import EngineCache

WAREHOUSE_CONN_ID = "techflow_warehouse"

metadata = MetaData()


def _run_id() -> Column:
    return Column("run_id", String(250), nullable=False)


def _partition() -> Column:
    return Column("partition_date", Date, nullable=False)


# --- staging: one table per landed source -------------------------------------------------

stg_revenue = Table(
    "stg_revenue", metadata,
    _partition(),
    Column("account_id", String(32), nullable=False),
    Column("subscription_tier", String(32), nullable=False),
    Column("monthly_license_revenue", Float, nullable=False),
    Column("user_licenses", Integer, nullable=False),
    Column("additional_features", Text, nullable=False),  # JSON list of feature names
    Column("feature_revenue", Float, nullable=False),
    Column("total_monthly_revenue", Float, nullable=False),
    Column("billing_date", Date, nullable=False),
    Column("payment_status", String(32), nullable=False),
    _run_id(),
)

stg_ledger = Table(
    "stg_ledger", metadata,
    _partition(),
    Column("account_id", String(32), nullable=False),
    Column("ledger_month", Date, nullable=False),
    Column("recognized_revenue", Float, nullable=False),
    Column("entry_id", String(64), nullable=False),
    _run_id(),
)

stg_expenses = Table(
    "stg_expenses", metadata,
    _partition(),
    Column("expense_id", String(64), nullable=False),
    Column("account_id", String(32)),  # NULL for a cost centre's expense, shared by all accounts
    Column("cost_centre", String(64)),
    Column("expense_category", String(64), nullable=False),
    Column("monthly_cost", Float, nullable=False),
    Column("cloud_services", Float, nullable=False),
    Column("database_hosting", Float, nullable=False),
    Column("monitoring_tools", Float, nullable=False),
    Column("expense_date", Date, nullable=False),
    _run_id(),
)

stg_salaries = Table(
    "stg_salaries", metadata,
    _partition(),
    Column("team_id", String(32), nullable=False),
    Column("team_name", String(64), nullable=False),
    Column("monthly_salary_total", Float, nullable=False),
    Column("headcount", Integer, nullable=False),
    Column("cost_per_engineer", Float, nullable=False),
    Column("salary_month", Date, nullable=False),
    _run_id(),
)

stg_account_status_changes = Table(
    "stg_account_status_changes", metadata,
    _partition(),
    Column("account_id", String(32), nullable=False),
    Column("previous_status", String(32)),  # NULL for a brand-new account
    Column("new_status", String(32), nullable=False),
    Column("change_date", Date, nullable=False),
    Column("change_reason", String(128), nullable=False),
    Column("sales_rep", String(64)),
    Column("contract_value", Float, nullable=False),
    _run_id(),
)

stg_license_changes = Table(
    "stg_license_changes", metadata,
    _partition(),
    Column("account_id", String(32), nullable=False),
    Column("previous_licenses", Integer, nullable=False),
    Column("new_licenses", Integer, nullable=False),
    Column("change_date", Date, nullable=False),
    Column("change_type", String(16), nullable=False),
    Column("additional_revenue", Float, nullable=False),
    Column("effective_date", Date, nullable=False),
    _run_id(),
)

stg_renewals = Table(
    "stg_renewals", metadata,
    _partition(),
    Column("account_id", String(32), nullable=False),
    Column("renewal_date", Date, nullable=False),
    Column("previous_contract_value", Float, nullable=False),
    Column("new_contract_value", Float, nullable=False),
    Column("renewal_type", String(32), nullable=False),
    Column("contract_duration_months", Integer, nullable=False),
    _run_id(),
)

stg_click_events = Table(
    "stg_click_events", metadata,
    _partition(),
    Column("partition_hour", Integer, nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("account_id", String(32), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("feature_name", String(64)),
    Column("event_ts", DateTime, nullable=False),
    Column("event_date", Date, nullable=False),
    Column("is_late", Boolean, nullable=False),  # arrived more than 48 h after it happened
    Column("session_id", String(64)),
    Column("page_url", String(256)),
    Column("user_agent", String(256)),
    Column("ip_address", String(64)),
    _run_id(),
)

stg_usage_sessions = Table(
    "stg_usage_sessions", metadata,
    _partition(),
    Column("session_id", String(64), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("account_id", String(32), nullable=False),
    Column("session_start", DateTime, nullable=False),
    Column("session_end", DateTime, nullable=False),
    Column("total_active_time_minutes", Float, nullable=False),
    Column("features_used", Text, nullable=False),  # JSON list
    Column("device_type", String(32), nullable=False),
    _run_id(),
)

stg_team_activity = Table(
    "stg_team_activity", metadata,
    _partition(),
    Column("account_id", String(32), nullable=False),
    Column("activity_date", Date, nullable=False),
    Column("active_users", Integer, nullable=False),
    Column("total_session_hours", Float, nullable=False),
    Column("features_accessed", Integer, nullable=False),
    Column("api_calls", Integer, nullable=False),
    Column("reports_generated", Integer, nullable=False),
    _run_id(),
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
    Column("events", Integer, nullable=False),  # distinct event ids, on-time events only
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
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            if attempt == attempts - 1 or not any(
                marker in str(exc).lower() for marker in ("already exists", "duplicate key", "database is locked")
            ):
                raise
            time.sleep(0.2 * (attempt + 1))


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    _create_tables(engine)
    return engine


def get_engine(url: str | None = None) -> Engine:
    """This process's engine for `url` (default: `warehouse_url()`), tables created on first use."""
    return _engines.get(url or warehouse_url(), _make_engine)


def dispose_engines() -> None:
    _engines.dispose()
