"""The docker-compose shape, proven natively: api-server, scheduler, dag-processor, triggerer
and a Celery worker as processes (scripts/celery-stack.sh) on PostgreSQL and Redis.

Skips where PostgreSQL or Redis do not answer (a laptop); under CI (`CI` set, as `.ci/run`
does) that skip is a failure, so the proof cannot silently vanish.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .celery_stack import CeleryStack, services_problem

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

PROBE_DAGS = Path(__file__).parent / "dags"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    problem = services_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Celery stack test, but {problem}")
        pytest.skip(problem)
    stack = CeleryStack(work_dir=tmp_path_factory.mktemp("celery-stack"), dags_folder=PROBE_DAGS)
    try:
        stack.start(workers=1)
        yield stack
    finally:
        leftovers = stack.stop()
        assert not leftovers, f"processes left running after down: {leftovers}"


def test_a_task_runs_on_the_celery_worker(stack):
    stack.wait_for_dag("celery_probe")
    run_id = stack.trigger("celery_probe")
    assert stack.wait_for_run("celery_probe", run_id) == "success", stack.logs_tail()
    ti = stack.task_instances("celery_probe", run_id)["where_am_i"]
    assert ti["queue"] == stack.queue
    assert "execute_workload" in stack.log("worker-1") and ti["state"] == "success"
