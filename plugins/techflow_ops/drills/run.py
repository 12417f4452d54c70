"""Run one drill in this process: its own workspace, synthetic data with the fault, the real
DAG under dag.test(), then the incident and the pages it sent."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from .catalogue import DRILLS, Drill


def _prepare_environment(drill: Drill, workspace: Path, shared_ops_db: bool) -> None:
    from .. import settings

    if workspace.exists():
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True)
    if not shared_ops_db:
        os.environ["TECHFLOW_OPS_DB_URL"] = f"sqlite:///{workspace / 'ops.db'}"
    os.environ["TECHFLOW_DATA_DIR"] = str(workspace / "data")
    os.environ["TECHFLOW_WAREHOUSE_URL"] = f"sqlite:///{workspace / 'data' / 'warehouse.db'}"
    os.environ.pop("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", None)  # it would win over the drill's warehouse
    # dag.test() cannot finish a successful run of a DAG with a Deadline Alert in Airflow 3.3.2
    # (see callbacks.deadline_alerts_enabled); the upstream runs of spark-oom must succeed.
    os.environ["TECHFLOW_DEADLINE_ALERTS"] = "off"
    os.environ["TECHFLOW_DRILL"] = drill.name
    assert settings.data_dir() == workspace / "data"


@contextlib.contextmanager
def _oom_injected(target: str):
    from ..failures import OutOfMemory
    from ..pipelines import dag_factory

    real_transform = dag_factory.transform_task

    def transform_that_runs_out_of_memory(pipeline_id: str, **context):
        if pipeline_id == target:
            raise OutOfMemory(
                f"Spark job {target}_join failed: ExecutorLostFailure (executor 3 exited caused by one of the "
                "running tasks) Reason: Container killed by YARN for exceeding memory limits; "
                "java.lang.OutOfMemoryError: Java heap space [drill: injected]"
            )
        return real_transform(pipeline_id, **context)

    # DAG files are parsed inside this block, so the factory wires the failing callable into
    # the drill's DAGs only; the factory is restored for whatever else runs in this process.
    dag_factory.transform_task = transform_that_runs_out_of_memory
    try:
        yield
    finally:
        dag_factory.transform_task = real_transform


def _migrate_airflow_db() -> None:
    from airflow.utils.db import check_migrations

    try:
        check_migrations(timeout=1)
        return
    except Exception:  # noqa: BLE001 - not migrated (or not created yet): migrate below
        pass
    airflow = Path(sys.executable).parent / "airflow"
    done = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stderr[-2000:]}")


def run_drill(name: str, *, day: date | None = None, workspace: Path | None = None, shared_ops_db: bool = False,
              out=print) -> dict:
    """Run one drill; return {"incident": {...}, "on_call": ..., "paged": [...]} (also printed)."""
    from .. import settings

    drill = DRILLS[name]
    day = day or (datetime.now(timezone.utc).date() - timedelta(days=1))
    workspace = workspace or settings.data_dir() / "drills" / name
    _prepare_environment(drill, workspace, shared_ops_db)

    from ..escalation import get_incident, list_incidents, reset_service
    from ..oncall import get_schedule_service
    from ..pipelines.synthetic import FaultSpec, GeneratorConfig, generate
    from ..registry import get_registry

    reset_service()
    registry = get_registry()
    faults = tuple(FaultSpec.parse(spec.format(day=day.isoformat())) for spec in drill.fault_specs)
    out(f"drill {name}: {drill.what}")
    out(f"  workspace {workspace}; fault(s): {', '.join(map(str, faults)) or 'injected into the run'}")
    generate(GeneratorConfig(start=day - timedelta(days=2), end=day, accounts=12, events_per_day=400, faults=faults))
    _migrate_airflow_db()
    from airflow.dag_processing.dagbag import DagBag

    with _oom_injected(drill.pipeline_id) if drill.oom_in_transform else contextlib.nullcontext():
        bag = DagBag(dag_folder=os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or str(settings.project_root() / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    conf = {"date": day.isoformat()}
    if drill.upstream_first:
        for upstream in registry.pipeline(drill.pipeline_id).upstream:
            run = bag.dags[upstream].test(run_conf=conf)
            out(f"  upstream {upstream}: run {run.run_id} {run.state}")
            if str(run.state) != "success":
                raise RuntimeError(f"upstream {upstream} did not succeed on clean data; the drill cannot go on")

    started = datetime.now(timezone.utc)
    on_call = get_schedule_service().now(started)
    run = bag.dags[drill.pipeline_id].test(run_conf=conf)
    out(f"  {drill.pipeline_id}: run {run.run_id} {run.state}")
    opened = [i for i in list_incidents(pipeline_id=drill.pipeline_id, limit=20) if i.run_id == run.run_id]
    if not opened:
        raise RuntimeError(f"drill {name}: the run ended {run.state} but no incident opened")
    incident = get_incident(opened[-1].id)
    from .. import links
    from ..failures import FailureClass

    section = links.runbook_url(drill.pipeline_id, FailureClass(incident.failure_class).anchor)
    out(f"  incident #{incident.id}: {incident.failure_class} in task {incident.task_id or '(run)'}; level {incident.level}")
    out(f"  on call now: primary {on_call.primary}, secondary {on_call.secondary}")
    out(f"  runbook section: {section}")
    for event in incident.timeline:
        out(f"    {event['at']:%H:%M:%S} {event['kind']:<20} {event['message']}")
    for notification in incident.notifications:
        out(f"  page -> {notification['recipient']} via {notification['channel']} {notification['target']}: "
            f"{notification['status']}" + (f" ({notification['last_error']})" if notification["last_error"] else ""))
    return {
        "drill": name, "run_id": run.run_id, "run_state": str(run.state), "on_call": on_call.primary,
        "incident": incident.to_dict(), "runbook_section": section,
        "paged": [n["recipient"] for n in incident.notifications if n["status"] == "delivered"],
    }
