"""Airflow glue: callbacks and the Deadline Alert that feed the escalation engine.

Thin on purpose. Importing this module is cheap (no SQLAlchemy, no providers): DAG files
import it at parse time. Every callback catches everything: a failure inside escalation
is logged and never changes the outcome of the task or DAG run it reports on.

    DAG(..., **dag_hooks(pipeline), default_args={..., **task_hooks(pipeline.id)})
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

log = logging.getLogger(__name__)


def _get(obj, name: str, default=None):
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _run_started_at(dag_run) -> datetime | None:
    """When the DAG run started, aware, or None when the context does not say (a deadline
    callback gets the run as a dict, with ISO strings)."""
    value = _get(dag_run, "start_date")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return value if isinstance(value, datetime) and value.tzinfo is not None else None


def _log_url(ti) -> str | None:
    try:
        return ti.log_url if ti is not None else None
    except Exception:  # noqa: BLE001 - a missing config value must not cost the page
        return None


class _PipelineCallback:
    """A callback bound to one pipeline. Immutable, so every task of a DAG shares one instance:
    Airflow deep-copies `default_args` into each task while the DAG file is parsed."""

    def __init__(self, pipeline_id: str):
        self.pipeline_id = pipeline_id

    def __deepcopy__(self, memo):
        return self


class ReportTaskFailure(_PipelineCallback):
    """Task `on_failure_callback`: Airflow calls it only once the last try failed, so retries page nobody."""

    def __call__(self, context) -> None:
        try:
            try:
                self._report(context)
            except Exception:
                if not _check_schema_again():
                    raise
                log.warning("TechFlow escalation: reporting a failure failed with the schema check skipped (a parent "
                            "verified the ops DB); checked it again, retrying", exc_info=True)
                self._report(context)
        except Exception:
            log.exception("TechFlow escalation: could not report the failure of pipeline %s", self.pipeline_id)

    def _report(self, context) -> None:
        from . import report_failure

        ti = context.get("ti") or context.get("task_instance")
        exception = context.get("exception")
        report_failure(
            pipeline_id=self.pipeline_id, dag_id=_get(ti, "dag_id"), run_id=_get(ti, "run_id") or context.get("run_id"),
            task_id=_get(ti, "task_id"), try_number=_get(ti, "try_number"), kind="task_failure",
            exception=exception if isinstance(exception, BaseException) else None,
            error=None if isinstance(exception, BaseException) else str(exception or "task failed (no exception given)"),
            log_url=_log_url(ti), run_started_at=_run_started_at(context.get("dag_run")),
            details={"drill": os.environ["TECHFLOW_DRILL"]} if os.environ.get("TECHFLOW_DRILL") else None,
        )


def _check_schema_again() -> bool:
    """After a failed report in a task process that skipped its schema check because the parent
    it was forked from verified the ops DB (`opsdb.engine.verify_for_forks`): forget that, drop the
    engines and the service, so the next use checks (and migrates) the schema. True when there
    was such a skipped check to redo."""
    from ..opsdb import engine as opsdb_engine

    if not opsdb_engine.verified_by_parent():
        return False
    from . import reset_service

    opsdb_engine.forget_verified()
    opsdb_engine.dispose_engines()
    reset_service()
    return True


class ReportTaskSuccess(_PipelineCallback):
    """Task `on_success_callback`: a later success of the same task auto-resolves its incidents."""

    def __call__(self, context) -> None:
        try:
            from . import service

            ti = context.get("ti") or context.get("task_instance")
            service().record_success(dag_id=_get(ti, "dag_id"), task_id=_get(ti, "task_id"), run_id=_get(ti, "run_id"),
                                     run_started_at=_run_started_at(context.get("dag_run")))
        except Exception:
            log.exception("TechFlow escalation: could not record the success of pipeline %s", self.pipeline_id)


#: How long a task's start waits for its ops DB connection before it runs anyway.
WARM_UP_WAIT_SECONDS = 1.0


class WarmOpsDb(_PipelineCallback):
    """Task `on_execute_callback`: connects to the ops DB as the task starts, so a failure finds it ready.

    A daemon thread builds the escalation service (engine, schema check) and pools one
    connection. Every task uses the ops DB when it ends (a success auto-resolves, a failure opens an
    incident), so this moves that work earlier rather than adding it. The task waits for it
    up to WARM_UP_WAIT_SECONDS (a few ms normally): a task that fails at once would otherwise
    report while the connection is still being made, both competing for the interpreter. An
    ops DB that does not answer delays the task by that second at most, and the warm-up goes
    on in the background; a failure callback that comes first waits for the engine
    (`service()` and the engine cache are locked) or uses what is ready. It never raises."""

    def __call__(self, context) -> None:
        try:
            import threading

            warm_up = threading.Thread(target=warm_ops_db, name="techflow-ops-db-warm-up", daemon=True)
            warm_up.start()
            warm_up.join(WARM_UP_WAIT_SECONDS)
        except Exception:  # a warm-up is only a head start
            log.debug("TechFlow escalation: ops DB warm-up not started", exc_info=True)


def warm_ops_db() -> bool:
    """Build the escalation service (its ops DB engine, schema checked), put one open connection
    in its pool with the tables a failure report writes already read by that connection (a new
    PostgreSQL backend loads each table's catalog entries on first use), and look the on-call
    schedule up once (its state version check); True when done. Never raises."""
    try:
        from . import service, store

        escalation = service()
        with escalation.engine.connect() as connection:
            store.touch_report_tables(connection)
        escalation.schedule  # noqa: B018 - loads (or checks) the schedule a failure pages from
        return True
    except Exception:  # the failure/success callback connects (and reports) itself
        log.debug("TechFlow escalation: ops DB warm-up failed", exc_info=True)
        return False


class ReportDagRunFailure(_PipelineCallback):
    """DAG `on_failure_callback` (runs in the dag-processor): opens a run-level incident unless a
    task incident of the same run already covers it (then notes the run failure on it)."""

    def __call__(self, context) -> None:
        try:
            from . import service

            dag_run = context.get("dag_run")
            service().report_run_failure(
                pipeline_id=self.pipeline_id, dag_id=_get(dag_run, "dag_id"), run_id=_get(dag_run, "run_id"),
                reason=str(context.get("reason") or "DAG run failed"), run_started_at=_run_started_at(dag_run),
            )
        except Exception:
            log.exception("TechFlow escalation: could not report the DAG run failure of pipeline %s", self.pipeline_id)


class ReportDagRunSuccess(_PipelineCallback):
    def __call__(self, context) -> None:
        try:
            from . import service

            dag_run = context.get("dag_run")
            service().record_success(dag_id=_get(dag_run, "dag_id"), task_id=None, run_id=_get(dag_run, "run_id"),
                                     run_started_at=_run_started_at(dag_run))
        except Exception:
            log.exception("TechFlow escalation: could not record the DAG run success of pipeline %s", self.pipeline_id)


def report_deadline_miss_sync(context: dict, pipeline_id: str, sla: str) -> int | None:
    try:
        from . import report_failure

        dag_run = context.get("dag_run") or {}
        deadline = context.get("deadline") or {}
        return report_failure(
            pipeline_id=pipeline_id, dag_id=_get(dag_run, "dag_id"), run_id=_get(dag_run, "dag_run_id") or _get(dag_run, "run_id"),
            task_id=None, kind="deadline_miss", failure_class="sla_miss",
            error=(f"freshness SLA {sla} missed: run queued at {_get(dag_run, 'queued_at')} was not done by "
                   f"{_get(deadline, 'deadline_time')} (state {_get(dag_run, 'state')})"),
            details={"deadline": deadline}, run_started_at=_run_started_at(dag_run),
        )
    except Exception:
        log.exception("TechFlow escalation: could not report the deadline miss of pipeline %s", pipeline_id)
        return None


async def report_deadline_miss(context: dict, pipeline_id: str, sla: str) -> None:
    """Deadline Alert callback (AsyncCallback, runs in the triggerer): the blocking DB and
    SMTP work goes to a thread so the triggerer's event loop keeps serving other triggers."""
    import asyncio

    await asyncio.to_thread(report_deadline_miss_sync, context, pipeline_id, sla)


def task_hooks(pipeline_id: str) -> dict:
    """`default_args` entries for every task of a pipeline DAG."""
    return {"on_execute_callback": [WarmOpsDb(pipeline_id)], "on_failure_callback": [ReportTaskFailure(pipeline_id)],
            "on_success_callback": [ReportTaskSuccess(pipeline_id)]}


def freshness_deadline(pipeline_id: str, freshness_sla: timedelta):
    """The pipeline's freshness SLA as a Deadline Alert: a run not done `freshness_sla` after it
    was queued leaves the data staler than promised, and opens an incident."""
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    from ..registry import format_duration

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=freshness_sla,
        callback=AsyncCallback(report_deadline_miss, kwargs={"pipeline_id": pipeline_id, "sla": format_duration(freshness_sla)}),
    )


def deadline_alerts_enabled() -> bool:
    """`TECHFLOW_DEADLINE_ALERTS=off` leaves Deadline Alerts out of pipeline DAGs. Needed for
    `dag.test()`: in Airflow 3.3.2 a successful test run of a DAG with a Deadline Alert fails in
    `DagRun.update_state` (it looks the serialized alert dict up as an alert id)."""
    return os.environ.get("TECHFLOW_DEADLINE_ALERTS", "on").strip().lower() not in ("off", "0", "false", "no")


def dag_hooks(pipeline, *, deadline: bool | None = None) -> dict:
    """DAG(...) keyword arguments: run-level callbacks and the list of Deadline Alerts.

    The list holds the freshness alert; the resolution SLA is measured from when an incident
    opened, which no DAG-run deadline reference can express, so the escalation engine checks
    it (see the `engine` module docstring)."""
    hooks = {
        "on_failure_callback": [ReportDagRunFailure(pipeline.id)],
        "on_success_callback": [ReportDagRunSuccess(pipeline.id)],
    }
    if deadline_alerts_enabled() if deadline is None else deadline:
        hooks["deadline"] = [freshness_deadline(pipeline.id, pipeline.freshness_sla)]
    return hooks
