"""A drill against the Airflow that `make start` runs: the fault goes into the landing data the
running pipelines read, the real DAG is triggered through Airflow's REST API (scheduler,
executor, callbacks, the escalation engine DAG all take part), and the drill waits for the
incident and its first page in the local inbox. The fault is taken out again afterwards, so
the next run of the pipeline succeeds and resolves the incident."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from .catalogue import DRILLS, Drill

HEALTH_TIMEOUT = 2.0


class LiveDrillUnavailable(RuntimeError):
    """No Airflow answers, or the drill cannot be injected into a running Airflow."""


def airflow_answers(base_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{base_url}/api/v2/monitor/health", timeout=HEALTH_TIMEOUT).status_code == 200
    except httpx.HTTPError:
        return False


def admin_client(base_url: str, airflow_home: Path):
    """An httpx client with a JWT for the admin of `airflow standalone` (SimpleAuthManager)."""
    import httpx

    passwords = airflow_home / "simple_auth_manager_passwords.json.generated"
    if not passwords.is_file():
        raise LiveDrillUnavailable(f"{passwords} not found: is this the Airflow of `make start`?")
    user, password = next(iter(json.loads(passwords.read_text()).items()))
    token = httpx.post(f"{base_url}/auth/token", json={"username": user, "password": password}, timeout=30)
    token.raise_for_status()
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token.json()['access_token']}"},
                        timeout=30)


def _partition(landing: Path, source: str, day: date) -> Path:
    return landing / source / f"dt={day.isoformat()}"


def inject(drill: Drill, day: date, data_dir: Path) -> list[tuple[Path, Path | None]]:
    """Put the drill's faulty partitions into `data_dir`'s landing folder; return (partition,
    backup or None) pairs for `restore`."""
    from ..pipelines.synthetic import FaultSpec, GeneratorConfig, generate

    faults = tuple(FaultSpec.parse(spec.format(day=day.isoformat())) for spec in drill.fault_specs)
    if not faults:
        raise LiveDrillUnavailable(f"drill {drill.name} injects its fault into the run itself: it runs locally only")
    scratch = Path(tempfile.mkdtemp(prefix=f"drill-{drill.name}-"))
    generate(GeneratorConfig(start=day - timedelta(days=2), end=day, accounts=12, events_per_day=400, faults=faults),
             data_dir=scratch)
    landing = data_dir / "landing"
    swapped = []
    for fault in faults:
        target = _partition(landing, fault.source.value, fault.date)
        backup = None
        if target.exists():
            backup = scratch / "backup" / fault.source.value / target.name
            backup.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(target), backup)
        faulty = _partition(scratch / "landing", fault.source.value, fault.date)
        if faulty.exists():
            shutil.copytree(faulty, target)
        swapped.append((target, backup))
    return swapped


def restore(swapped: list[tuple[Path, Path | None]]) -> None:
    for target, backup in swapped:
        shutil.rmtree(target, ignore_errors=True)
        if backup is not None:
            shutil.move(str(backup), target)


def run_live(name: str, *, day: date | None = None, base_url: str, airflow_home: Path, data_dir: Path,
             timeout: float = 300.0, out=print) -> dict:
    """Inject, trigger, wait for the incident and its first page in the inbox, restore; return
    {"drill", "mode": "live", "run_id", "incident", "incident_url", "inbox_url", "on_call",
    "page_seconds"} where page_seconds runs from the incident opening to the page to the on-call
    primary arriving in the local inbox (None when no inbox caught it)."""
    from .. import links
    from ..escalation import get_incident, list_incidents
    from ..oncall import get_schedule_service

    drill = DRILLS[name]
    day = day or (datetime.now(timezone.utc).date() - timedelta(days=1))
    registry_dag = drill.pipeline_id  # a pipeline's DAG id is its id (dag_factory)
    client = admin_client(base_url, airflow_home)
    swapped = inject(drill, day, data_dir)
    out(f"drill {name} (live, against {base_url}): {drill.what}; data day {day}")
    try:
        triggered = client.post(f"/api/v2/dags/{registry_dag}/dagRuns",
                                json={"logical_date": None, "conf": {"date": day.isoformat()}})
        triggered.raise_for_status()
        run_id = triggered.json()["dag_run_id"]
        out(f"  triggered {registry_dag} run {run_id}; waiting for the incident ...")
        deadline = time.monotonic() + timeout
        incident = None
        while time.monotonic() < deadline:
            found = [i for i in list_incidents(pipeline_id=drill.pipeline_id, limit=50) if i.run_id == run_id]
            if found:
                incident = get_incident(found[-1].id)
                break
            state = client.get(f"/api/v2/dags/{registry_dag}/dagRuns/{run_id}").json().get("state")
            if state == "success":
                raise RuntimeError(f"run {run_id} succeeded: the fault did not break it")
            time.sleep(1)
        if incident is None:
            raise RuntimeError(f"no incident for run {run_id} within {timeout:.0f} s")
        on_call = get_schedule_service().now(incident.opened_at).primary
        page_seconds = _wait_for_page(incident, on_call, deadline, out)
    finally:
        restore(swapped)
        out(f"  fault removed from {', '.join(str(target) for target, _ in swapped)}: the next run of "
            f"{registry_dag} for {day} succeeds and resolves the incident")
    result = {
        "drill": name, "mode": "live", "run_id": run_id, "on_call": on_call, "incident": incident.to_dict(),
        "incident_url": links.incident_url(incident.id), "inbox_url": links.plugin_url("inbox"),
        "page_seconds": page_seconds,
    }
    out(f"  incident #{incident.id} ({incident.severity}, {incident.failure_mode}): {result['incident_url']}")
    out(f"  inbox: {result['inbox_url']}" + (f" (the page to {on_call} arrived {page_seconds:.1f} s after the "
                                               "incident opened)" if page_seconds is not None else ""))
    return result


def _wait_for_page(incident, person_id: str | None, deadline: float, out) -> float | None:
    """Seconds from the incident opening to the first page to `person_id` in the local inbox."""
    from ..inbox import list_messages
    from ..registry import get_registry

    if person_id is None:
        return None
    address = get_registry().people[person_id].email
    while time.monotonic() < deadline:
        for message in list_messages(incident_id=incident.id, channel="email"):
            if address in message["to"]:
                return (message["received_at"] - incident.opened_at).total_seconds()
        time.sleep(0.2)
    out(f"  no page to {person_id} reached the local inbox (is `make start`'s inbox running?)")
    return None
