"""Load what parsing a pipeline DAG file, and running its tasks, needs into a process that forks
the parsers and the task processes.

Forked children share the parent's imported modules and loaded objects copy-on-write, so a
parse pays only for building the DAG and a task only for its own work. A child still checks
the registry files' stamps and runbook stamps on every parse and reloads what changed, so an
edit never needs a restart; until that parent restarts, each parse after an edit re-reads the
changed files. The same holds for the escalation policy and the on-call schedule
(`reloading.py`).

Which process forks what (Airflow 3.3 on Linux, Python 3.11: `multiprocessing` forks):
- dag-processor: forks one child per DAG-file parse -> `preload_dag_parsing()`.
- scheduler with the LocalExecutor: forks its LocalExecutor worker processes
  (`multiprocessing.Process`, fork start method, at executor start); each worker runs
  `supervise_task`, which `os.fork()`s the task process -> parsing + `preload_task_runtime()`.
  A scheduler with another executor runs no task: parsing only.
- `airflow celery worker`: billiard's prefork pool children are forked from it; each runs
  `execute_workload` -> `supervise_task` -> `os.fork()` -> parsing + `preload_task_runtime()`.

`preload_task_runtime()` imports the escalation stack (orchestrator, store, policy, outbox,
channels and the SMTP/Slack/PagerDuty notifier modules) and loads the policy and the on-call
schedule; with `quality` it imports Great Expectations and the quality suites and builds the
worker's GX context and warehouse data source (`quality.validation.prepare_runner`). Fork
safety: it keeps no database connection (GX's data-source engine is made on first use, in the
task process), starts no thread, and drops any warehouse engine. It brings the ops DB to head
(`opsdb.engine.verify_for_forks`), so the children it forks skip that schema check (a task
process started after the ops DB was replaced, e.g. its SQLite file deleted, finds the tables
missing when it reports a failure, and the failure callback then checks the schema again and
retries). It then rehearses a failure report per pipeline in a rolled-back transaction
(`Escalation.rehearse_failure_reports`) and hands the ops DB engine down with its pool closed
(`sqlengines.EngineCache.hand_down`): each child adopts it with a fresh pool, its dialect
initialised and the report's statements compiled, so a failing task's page waits only on its
own queries. A PostgreSQL sequence skips the ids the rehearsal used, once per worker start.

`TECHFLOW_PRELOAD=off` turns every preload off; `TECHFLOW_PRELOAD=parsing` keeps only the DAG
parsing one. Nothing here raises: a broken config is reported by the parse itself, as an
import error naming the file, field and value, and a task loads what it needs on its own.
"""

from __future__ import annotations

import logging
import os
import sys
import time

log = logging.getLogger(__name__)

#: Processes (words of `sys.argv[1:3]`) that fork DAG parsers / task processes.
PARSING_PROCESSES = frozenset({"dag-processor", "scheduler", "worker"})


def preload_mode() -> str:
    """`off`, `parsing` (DAG parsing only) or `on` (also what tasks run), from TECHFLOW_PRELOAD."""
    value = os.environ.get("TECHFLOW_PRELOAD", "on").strip().lower()
    if value in ("off", "0", "false", "no"):
        return "off"
    return "parsing" if value == "parsing" else "on"


def preload_dag_parsing() -> bool:
    """Import the DAG factory and load the registry and runbook summaries; True if all loaded."""
    if preload_mode() == "off":
        return False
    started = time.perf_counter()
    try:
        from ..registry import get_registry
        from ..runbooks.summary import runbook_summary
        from . import dag_factory  # noqa: F401  (imports Airflow's authoring API and the hooks)

        registry = get_registry()
        for pipeline_id in registry.pipelines:
            runbook_summary(pipeline_id, registry)
    except Exception as exc:  # noqa: BLE001 - the parse reports it, with file, field and value
        log.warning("TechFlow Ops: DAG parsing not preloaded (%s); each parse loads the registry itself", exc)
        return False
    log.info("TechFlow Ops: preloaded DAG parsing (factory, %d pipelines, runbooks) in %.0f ms",
             len(registry.pipelines), (time.perf_counter() - started) * 1000)
    return True


def preload_task_runtime(*, quality: bool = True) -> dict[str, bool]:
    """Load what task processes forked from this one need: the escalation stack (policy and
    on-call schedule loaded) and, with `quality`, Great Expectations with the worker's context.
    Returns which parts loaded; never raises."""
    done = {"escalation": False, "quality": False}
    if preload_mode() != "on":
        return done
    started = time.perf_counter()
    done["escalation"] = _step("escalation stack", _preload_escalation)
    if quality:
        done["quality"] = _step("Great Expectations and the quality suites", _preload_quality)
    _step("engine clean-up", _drop_engines)
    log.info("TechFlow Ops: preloaded task runtime (%s) in %.0f ms",
             ", ".join(name for name, ok in done.items() if ok) or "nothing", (time.perf_counter() - started) * 1000)
    return done


def preload_for_process(argv: list[str]) -> None:
    """What `airflow_local_settings` calls: preload according to the Airflow component in `argv`."""
    words = set(argv[1:3])
    if not PARSING_PROCESSES & words or preload_mode() == "off":
        return
    started = time.perf_counter()
    loaded = {"DAG parsing": preload_dag_parsing()}
    if "worker" in words or ("scheduler" in words and _runs_tasks_locally()):
        loaded.update(preload_task_runtime())
    # Airflow has not configured logging yet while it imports the local settings: one line on
    # stderr (the component's log) says what this process preloaded and what it cost.
    print(f"TechFlow Ops: preloaded in airflow {' '.join(argv[1:3])} (pid {os.getpid()}): "
          + (", ".join(name for name, ok in loaded.items() if ok) or "nothing")
          + f" in {(time.perf_counter() - started) * 1000:.0f} ms", file=sys.stderr, flush=True)


def _step(what: str, load) -> bool:
    try:
        load()
    except Exception as exc:  # noqa: BLE001 - the task loads it itself (and reports a real problem)
        log.warning("TechFlow Ops: %s not preloaded (%s: %s); each task loads it itself", what, type(exc).__name__, exc)
        return False
    return True


def _runs_tasks_locally() -> bool:
    """True when this scheduler's executors include the LocalExecutor (it forks the task processes)."""
    try:
        from airflow.configuration import conf

        return "LocalExecutor" in (conf.get("core", "executor", fallback="") or "")
    except Exception:  # noqa: BLE001
        return False


def _preload_escalation() -> None:
    from ..escalation import callbacks, channels, notices, orchestrator, outbox, store  # noqa: F401
    from ..escalation.policy import get_policy
    from ..lineage import facets  # noqa: F401  (the OpenLineage hooks of every pipeline task)
    from ..oncall import get_schedule_service
    from ..opsdb import migrations_runner
    from ..registry import get_registry

    _preload_notifiers()
    config_dir = get_registry().config_dir
    get_policy(config_dir)
    get_schedule_service(config_dir)
    migrations_runner.head_revision()  # reads the migration scripts
    if _step("ops DB schema check", _verify_ops_db):
        _step("ops DB rehearsal of a failure report", _rehearse_failure_reports)


def _verify_ops_db() -> None:
    """Bring the ops DB to head once here (a short-lived connection, closed before any fork), so
    each forked task process skips its own schema check (`opsdb.engine.verify_for_forks`)."""
    from ..opsdb import engine as opsdb_engine

    opsdb_engine.verify_for_forks()


def _rehearse_failure_reports() -> None:
    """Run a failure report's statements once per pipeline, rolled back (`Escalation.rehearse_failure_reports`),
    so the engine the task processes adopt (`_drop_engines`) has its dialect and statements ready."""
    from ..escalation import service

    service().rehearse_failure_reports()


def _preload_notifiers() -> None:
    """The provider modules `escalation.channels` sends through (a provider left out of an image
    is skipped: pages on it fail, and are retried, as they would anyway)."""
    try:
        from airflow.providers.smtp.notifications import smtp  # noqa: F401
    except ImportError as exc:
        log.info("TechFlow Ops: SMTP notifier not preloaded (%s)", exc)
    try:
        from airflow.providers.slack.notifications import slack_webhook  # noqa: F401
    except ImportError as exc:
        log.info("TechFlow Ops: Slack notifier not preloaded (%s)", exc)
    try:
        from airflow.providers.pagerduty.hooks import pagerduty_events  # noqa: F401
    except ImportError as exc:
        log.info("TechFlow Ops: PagerDuty hook not preloaded (%s)", exc)


def _preload_quality() -> None:
    from ..quality import validation

    validation.prepare_runner()


def _drop_engines() -> None:
    """No pooled connection may cross a fork: close this process's ops DB connections and hand its
    engine down to the task processes (warm: see `sqlengines`), and forget any warehouse engine."""
    from ..opsdb import engine as opsdb_engine
    from . import warehouse

    opsdb_engine.hand_down_engines()
    warehouse.dispose_engines()
