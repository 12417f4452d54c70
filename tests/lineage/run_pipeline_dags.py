"""Run pipeline DAGs with `dag.test()` in a process of its own, so Airflow loads its plugins
(the OpenLineage provider's listener among them) with the OpenLineage configuration this
process was started with. Prints one line `RUNS_JSON: [{"pipeline", "date", "state", "run_id",
"seconds"}, ...]` (Airflow logs to stdout too).

    python tests/lineage/run_pipeline_dags.py profit:2026-11-04 engagement:2026-11-05 ...
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    os.environ.setdefault("TECHFLOW_DEADLINE_ALERTS", "off")  # dag.test() cannot finish them (Airflow 3.3.2)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    if bag.import_errors:
        print(json.dumps({"import_errors": {k: str(v) for k, v in bag.import_errors.items()}}))
        return 2
    listener_seconds = _time_the_listener() if os.environ.get("TECHFLOW_TIME_LISTENER") else None
    runs = []
    for spec in argv:
        pipeline_id, _, day = spec.partition(":")
        started = time.perf_counter()
        run = bag.dags[pipeline_id].test(run_conf={"date": day})
        runs.append({"pipeline": pipeline_id, "date": day, "state": str(run.state), "run_id": run.run_id,
                     "seconds": round(time.perf_counter() - started, 3)})
        if listener_seconds is not None:
            runs[-1]["listener_seconds"] = round(listener_seconds.pop("total", 0.0), 4)
    sys.stdout.write("\nRUNS_JSON: " + json.dumps(runs) + "\n")
    return 0


def _time_the_listener() -> dict:
    """Seconds the task runner spends inside the OpenLineage listener's task hooks (what a task
    waits for), summed until read: a cleaner figure than the difference of two wall clocks."""
    import functools

    from airflow.providers.openlineage.plugins.listener import OpenLineageListener

    spent = {"total": 0.0}

    def timed(method):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent["total"] = spent.get("total", 0.0) + time.perf_counter() - started
        return wrapper

    for name in ("on_task_instance_running", "on_task_instance_success", "on_task_instance_failed", "before_stopping"):
        setattr(OpenLineageListener, name, timed(getattr(OpenLineageListener, name)))
    return spent


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
