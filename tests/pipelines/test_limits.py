"""Nothing fails silently (issue #14): time limits and retries come from the registry's `limits`,
a task past its limit is killed and opens a `timeout` incident, only transient failures are
retried (and page nobody before the last try), and a warehouse statement over the query limit
is cancelled on PostgreSQL and on SQLite."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import yaml
from sqlalchemy import text
from tests.pipelines.conftest import throwaway_postgres_databases

from techflow_ops.escalation.classify import classify, failure_mode_of
from techflow_ops.failures import DataQualityFailure
from techflow_ops.pipelines import warehouse
from techflow_ops.pipelines.transient import WarehouseQueryTimeout, fail_fast, is_transient
from techflow_ops.registry import load_registry

SPARK_PIPELINES = {"executive_investor", "experiment_team"}


def _edit_pipelines(config_dir, change) -> None:
    path = config_dir / "pipelines.yaml"
    data = yaml.safe_load(path.read_text())
    change({p["id"]: p for p in data["pipelines"]})
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# --- limits on the DAGs ---------------------------------------------------------------------

def test_dags_from_the_shipped_registry_carry_the_brief_s_limits():
    from techflow_ops.pipelines.dag_factory import RETRY_BACKOFF, build_pipeline_dag
    from techflow_ops.registry import get_registry

    registry = get_registry()
    assert set(registry.pipelines) >= SPARK_PIPELINES
    for pipeline_id, pipeline in registry.pipelines.items():
        dag = build_pipeline_dag(pipeline_id)
        assert dag.dagrun_timeout == timedelta(hours=2), pipeline_id  # daily pipelines finish in under 2 hours
        for task in dag.tasks:
            expected = timedelta(hours=1)  # Spark jobs in under 1 hour; any other task too by default
            assert task.execution_timeout == expected, (pipeline_id, task.task_id)
            assert task.retries == 2 and task.retry_delay == timedelta(minutes=1), (pipeline_id, task.task_id)
            assert task.retry_exponential_backoff == RETRY_BACKOFF > 1  # 1.0 (or True) would be a constant delay
            assert task.max_retry_delay == timedelta(minutes=10)
            # Retries page nobody: the failure callback runs after the last try only, and there is no retry hook.
            assert task.on_failure_callback and not task.on_retry_callback, (pipeline_id, task.task_id)
            assert task.python_callable.__wrapped__ is not None, "every task callable goes through fail_fast"
        assert ("spark" in pipeline.infrastructure) == (pipeline_id in SPARK_PIPELINES)
    assert registry.warehouse_query_limit() == timedelta(seconds=30)


def test_the_spark_join_keeps_the_spark_job_limit_when_the_task_limit_is_raised(config_copy):
    from techflow_ops.pipelines.dag_factory import build_pipeline_dag

    def raise_task_limits(pipelines):
        for pipeline in pipelines.values():
            pipeline["limits"] = {"task": "90m"}
    _edit_pipelines(config_copy, raise_task_limits)
    registry = load_registry(config_copy, project_root=config_copy.parent)
    for pipeline_id in ("profit", "executive_investor"):
        dag = build_pipeline_dag(pipeline_id, registry)
        limits = {task.task_id: task.execution_timeout for task in dag.tasks}
        spark = pipeline_id in SPARK_PIPELINES
        assert limits["transform"] == (timedelta(hours=1) if spark else timedelta(minutes=90)), pipeline_id
        assert limits["validate_outputs"] == timedelta(minutes=90)
        assert dag.dagrun_timeout == timedelta(hours=2)


def test_dag_limits_survive_serialization():
    """The scheduler and the worker see the serialized DAG: the limits must come back from it."""
    from airflow.serialization.serialized_objects import DagSerialization

    from techflow_ops.pipelines.dag_factory import build_pipeline_dag

    dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(build_pipeline_dag("experiment_team")))
    assert dag.dagrun_timeout == timedelta(hours=2)
    transform = dag.get_task("transform")
    assert transform.execution_timeout == timedelta(hours=1) and transform.retries == 2
    assert transform.max_retry_delay == timedelta(minutes=10)


# --- which failures are transient -------------------------------------------------------------

def _from(outer: Exception, inner: Exception) -> Exception:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(("exception", "transient"), [
    (sqlite3.OperationalError("database is locked"), True),
    (ConnectionRefusedError(111, "Connection refused"), True),
    (ConnectionResetError(104, "Connection reset by peer"), True),
    (OSError(113, "No route to host"), True),
    (sqlite3.OperationalError("no such table: stg_revenue"), False),
    (FileNotFoundError(2, "No such file or directory"), False),
    (ValueError("cannot parse 'x'"), False),
    (DataQualityFailure("3 checks failed", failure_mode="duplicate_events"), False),
    (TimeoutError("timed out"), False),
    (WarehouseQueryTimeout("the query exceeded the warehouse query limit of 30s"), False),
    # A data-quality failure caused by a lost connection is still a data-quality verdict.
    (_from(DataQualityFailure("suite could not run"), ConnectionResetError(104, "reset")), False),
    (_from(RuntimeError("load failed"), sqlite3.OperationalError("database is locked")), True),
], ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value))
def test_only_connection_errors_and_a_locked_database_are_transient(exception, transient):
    assert is_transient(exception) is transient


def test_sqlalchemy_and_airflow_wrappers_are_seen_through():
    import psycopg2
    from airflow.sdk.exceptions import AirflowTaskTimeout
    from sqlalchemy.exc import OperationalError

    assert is_transient(OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")))
    assert is_transient(OperationalError("SELECT 1", {}, psycopg2.OperationalError("server closed the connection")))
    cancelled = psycopg2.errors.QueryCanceled("canceling statement due to statement timeout")
    assert not is_transient(OperationalError("SELECT pg_sleep(5)", {}, cancelled))
    assert not is_transient(AirflowTaskTimeout("Timeout, PID: 1"))


def test_fail_fast_turns_a_non_transient_failure_into_airflow_fail_exception_keeping_the_original():
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    failure = DataQualityFailure("duplicate events", failure_mode="duplicate_events")

    def bad(**_):
        raise failure

    with pytest.raises(AirflowFailException) as raised:
        fail_fast(bad)(pipeline_id="engagement")
    assert raised.value.__cause__ is failure
    assert classify(raised.value).value == "data_quality"  # escalation still sees the class ...
    assert failure_mode_of(raised.value, classify(raised.value)) == "duplicate_events"  # ... and the mode

    locked = sqlite3.OperationalError("database is locked")

    def transient(**_):
        raise locked

    with pytest.raises(sqlite3.OperationalError) as passed:
        fail_fast(transient)()
    assert passed.value is locked  # unchanged: Airflow's retries apply

    def skip(**_):
        raise AirflowSkipException("nothing to do")

    with pytest.raises(AirflowSkipException):
        fail_fast(skip)()
    assert fail_fast(lambda **kw: kw["x"] + 1)(x=1) == 2


def test_quality_task_callables_are_wrapped_too():
    from techflow_ops.pipelines.dag_factory import build_pipeline_dag
    from techflow_ops.quality.tasks import circuit_breaker_task, validate_task

    dag = build_pipeline_dag("executive_investor")
    assert dag.get_task("validate_outputs").python_callable.__wrapped__ is validate_task
    assert dag.get_task("check_upstream_quality").python_callable.__wrapped__ is circuit_breaker_task


# --- real Airflow runs (dag.test) ------------------------------------------------------------

@pytest.fixture
def test_sized_profit(config_copy, airflow_db, ops_db_url, monkeypatch):
    """The profit DAG built from a registry with test-sized limits; `make(ingest)` builds it with
    `ingest` as the ingest task's callable (the factory wraps it as it wraps the real one)."""
    from techflow_ops.pipelines import dag_factory

    def small_limits(pipelines):
        pipelines["profit"]["limits"] = {"run": "1h", "task": "2s", "query": "1s", "retries": 2,
                                         "retry_delay": "1s", "max_retry_delay": "2s"}
    _edit_pipelines(config_copy, small_limits)
    registry = load_registry(config_copy, project_root=config_copy.parent)
    monkeypatch.setenv("TECHFLOW_DEADLINE_ALERTS", "off")  # dag.test() cannot finish runs with one (3.3.2)

    def make(ingest):
        monkeypatch.setattr(dag_factory, "ingest_task", ingest)
        return dag_factory.build_pipeline_dag("profit", registry)

    return make


def _ingest_ti(run):
    [ti] = [ti for ti in run.get_task_instances() if ti.task_id == "ingest"]
    return ti


def _incidents(run) -> list:
    from techflow_ops import escalation

    return escalation.incidents_of_run("profit", run.run_id)


def test_a_task_past_its_limit_is_killed_and_opens_a_timeout_incident(test_sized_profit):
    started = []

    def hangs(pipeline_id, **context):
        started.append(time.monotonic())
        time.sleep(60)  # far past the 2 s task limit

    dag = test_sized_profit(hangs)
    assert dag.get_task("ingest").execution_timeout == timedelta(seconds=2)
    began = time.monotonic()
    run = dag.test()
    ti = _ingest_ti(run)
    assert str(ti.state) == "failed" and str(run.state) == "failed"
    assert len(started) == 1 and ti.try_number == 1, "a timeout is not retried"
    assert time.monotonic() - began < 45, "the task was killed at its limit, not left to finish"
    [listed] = [i for i in _incidents(run) if i.task_id == "ingest"]
    from techflow_ops import escalation

    incident = escalation.get_incident(listed.id)  # with its timeline and notifications
    assert incident.failure_class == "timeout" and incident.failure_mode == "timeout"
    assert incident.error.startswith("AirflowTaskTimeout: "), incident.error  # what failed, not the fail-fast wrapper
    assert incident.notifications, "the timeout pages (routed by its mode)"
    # The DAG run's failure is noted on the task's incident, not paged a second time.
    assert [i.id for i in _incidents(run)] == [incident.id]
    assert any(e["kind"] == "run_failed" for e in incident.timeline)


def test_a_transient_failure_is_retried_and_pages_nobody_until_the_last_try(test_sized_profit):
    incidents_seen_by_try: list[int] = []
    run_ids: list[str] = []

    def locked(pipeline_id, **context):
        run_ids.append(context["run_id"])
        from techflow_ops import escalation

        incidents_seen_by_try.append(len(escalation.incidents_of_run("profit", context["run_id"])))
        raise sqlite3.OperationalError("database is locked")

    run = test_sized_profit(locked).test()
    ti = _ingest_ti(run)
    assert str(ti.state) == "failed"
    assert ti.try_number == 3 and incidents_seen_by_try == [0, 0, 0], "two retries, nobody paged before the last try"
    [incident] = _incidents(run)
    assert incident.task_id == "ingest" and incident.try_number == 3 and incident.reports == 1
    assert "database is locked" in incident.error


def test_a_transient_failure_that_clears_up_succeeds_without_an_incident(test_sized_profit):
    tries: list[int] = []

    def locked_once(pipeline_id, **context):
        tries.append(1)
        if len(tries) == 1:
            raise ConnectionResetError(104, "Connection reset by peer")
        return []

    dag = test_sized_profit(locked_once)
    run = dag.test(mark_success_pattern="^(?!ingest$).*")  # only ingest really runs
    ti = _ingest_ti(run)
    assert str(ti.state) == "success" and ti.try_number == 2 and len(tries) == 2
    assert _incidents(run) == []


def test_a_data_quality_failure_fails_at_once_without_retry(test_sized_profit):
    tries: list[int] = []

    def bad_data(pipeline_id, **context):
        tries.append(1)
        raise DataQualityFailure("revenue does not reconcile with the ledger", failure_mode="revenue_mismatch")

    run = test_sized_profit(bad_data).test()
    ti = _ingest_ti(run)
    assert str(ti.state) == "failed" and ti.try_number == 1 and len(tries) == 1
    [incident] = _incidents(run)
    assert (incident.failure_class, incident.failure_mode) == ("data_quality", "revenue_mismatch")
    assert incident.error == "DataQualityFailure: revenue does not reconcile with the ledger"


def test_a_dag_run_stopped_at_its_run_limit_opens_a_timeout_incident(ops_db_url):
    """The scheduler ends a run past `dagrun_timeout` with reason "timed_out" (it skips the
    unfinished tasks, so no task callback runs); the DAG-level callback gets that reason."""
    from techflow_ops import escalation
    from techflow_ops.escalation.callbacks import ReportDagRunFailure

    dag_run = SimpleNamespace(dag_id="growth", run_id="scheduled__timed_out", start_date=datetime.now(timezone.utc))
    ReportDagRunFailure("growth")({"dag_run": dag_run, "reason": "timed_out"})
    [incident] = escalation.incidents_of_run("growth", "scheduled__timed_out")
    assert (incident.kind, incident.failure_class, incident.failure_mode) == ("dag_failure", "timeout", "timeout")
    assert "2h" in incident.error and "timed_out" in incident.error
    ReportDagRunFailure("profit")({"dag_run": SimpleNamespace(dag_id="profit", run_id="manual__other",
                                                              start_date=None), "reason": "task_failure"})
    [other] = escalation.incidents_of_run("profit", "manual__other")
    assert other.failure_class == "task_error"


# --- the warehouse statement limit -------------------------------------------------------------

@pytest.fixture
def one_second_queries(monkeypatch):
    monkeypatch.setenv(warehouse.QUERY_LIMIT_ENV, "1s")
    warehouse.dispose_engines()
    yield
    warehouse.dispose_engines()


def _assert_cancelled(engine, sql: str) -> WarehouseQueryTimeout:
    began = time.monotonic()
    with pytest.raises(WarehouseQueryTimeout) as raised, engine.connect() as conn:
        conn.execute(text(sql)).all()
    assert time.monotonic() - began < 4, "cancelled at the 1 s limit"
    error = raised.value
    assert "exceeded the warehouse query limit of 1s" in str(error) and error.limit_seconds == 1
    assert classify(error).value == "timeout" and not is_transient(error)
    with engine.connect() as conn:  # the connection pool stays usable
        assert conn.execute(text("SELECT 1")).scalar() == 1
    return error


def test_a_postgres_statement_over_the_limit_is_cancelled(one_second_queries):
    with throwaway_postgres_databases("techflow_wh_limits") as make:
        engine = warehouse.get_engine(make())
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "1s"
            conn.execute(text("SELECT pg_sleep(0.2)"))  # under the limit: untouched
        error = _assert_cancelled(engine, "SELECT pg_sleep(5)")
        assert "statement_timeout" in str(error)


def test_a_sqlite_statement_over_the_limit_is_interrupted(one_second_queries, tmp_path):
    engine = warehouse.get_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
                                 "SELECT COUNT(*) FROM n")).scalar() == 1000
    error = _assert_cancelled(engine, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                                      "WHERE i < 10000000000) SELECT COUNT(*) FROM n")
    assert "progress-handler" in str(error) and isinstance(error.__cause__, sqlite3.OperationalError)


def test_the_query_limit_comes_from_the_registry(config_copy, monkeypatch):
    from techflow_ops.registry import clear_registry_cache

    monkeypatch.delenv(warehouse.QUERY_LIMIT_ENV, raising=False)
    assert warehouse.query_limit() == timedelta(seconds=30)  # the shipped registry: the brief's 30 s

    def looser_growth(pipelines):
        pipelines["growth"]["limits"] = {"query": "45s"}
    _edit_pipelines(config_copy, looser_growth)
    monkeypatch.setenv("TECHFLOW_CONFIG_DIR", str(config_copy))
    clear_registry_cache()
    try:
        # Engines are shared by every pipeline: the loosest limit, so no pipeline's query is cut short.
        assert warehouse.query_limit() == timedelta(seconds=45)
        monkeypatch.setenv(warehouse.QUERY_LIMIT_ENV, "soon")
        with pytest.raises(ValueError, match="TECHFLOW_WAREHOUSE_QUERY_LIMIT"):
            warehouse.query_limit()
    finally:
        clear_registry_cache()
