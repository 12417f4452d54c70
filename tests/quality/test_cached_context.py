"""The GX context, data source and suites are built once per worker: a runner built in a
process that then forks task processes (the preload does so in the scheduler and Celery
workers) gives every forked task exactly the outcome a runner built afresh gives."""

from __future__ import annotations

import json
import os
from datetime import date

import pytest

from techflow_ops.quality import validation

FAULTS = ("click_events:2026-11-03:duplicate_events", "click_events:2026-11-04:late_events",
          "revenue:2026-11-01:revenue_ledger_mismatch")
CASES = [("stg_click_events", date(2026, 11, 3)), ("stg_click_events", date(2026, 11, 4)),
         ("stg_revenue", date(2026, 11, 1)), ("stg_ledger", date(2026, 11, 1)), ("profit_daily_account", date(2026, 11, 2))]


def _plain(result) -> dict:
    return {"dataset": result.dataset, "partition": result.partition_key, "status": result.status,
            "row_count": result.row_count,
            "outcomes": [[o.check, o.severity, o.success, o.observed] for o in result.outcomes]}


def _in_forked_child(runner) -> list[dict]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            payload = {"pid": os.getpid(),
                       "results": [_plain(runner.validate(dataset, day, "child", record=False)) for dataset, day in CASES]}
            data = json.dumps(payload, default=str).encode()
        except BaseException as exc:  # noqa: BLE001 - report it to the parent, never return into pytest
            data = json.dumps({"error": repr(exc)}).encode()
        with os.fdopen(write_end, "wb") as out:
            out.write(data)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert "error" not in child, child
    assert child["pid"] != os.getpid()
    return child["results"]


@pytest.fixture(scope="module")
def warehouse_url(runner_for):
    return runner_for("cached_context", FAULTS).warehouse_url


def test_a_runner_built_before_the_fork_validates_like_a_fresh_one(warehouse_url, tmp_path):
    prepared = validation.QualityRunner(warehouse_url, tmp_path / "prepared")
    prepared.release_connections()  # what prepare_runner() does in the preloading parent
    assert prepared.datasource._engine is None
    in_child = _in_forked_child(prepared)
    fresh = validation.QualityRunner(warehouse_url, tmp_path / "fresh")
    expected = [_plain(fresh.validate(dataset, day, "fresh", record=False)) for dataset, day in CASES]
    assert in_child == expected
    # The comparison means something: failed critical checks, warnings and clean partitions alike.
    assert {r["status"] for r in expected} == {"failed", "warned", "passed"}
    assert prepared.datasource._engine is None  # the child's engine stayed in the child


def test_a_runner_the_parent_already_used_is_adopted_by_the_child_without_touching_the_parents_connections(
        warehouse_url, tmp_path):
    runner = validation.QualityRunner(warehouse_url, tmp_path / "used")
    before = _plain(runner.validate(*CASES[0], "parent", record=False))
    parent_engine = runner.datasource._engine
    assert parent_engine is not None
    in_child = _in_forked_child(runner)
    assert in_child[0] == before
    # The child dropped the inherited pool with close=False: the parent's engine still works.
    assert runner.datasource._engine is parent_engine
    assert _plain(runner.validate(*CASES[0], "parent", record=False)) == before


def test_get_runner_builds_one_runner_per_warehouse_and_data_folder(warehouse_url):
    assert validation.get_runner(warehouse_url) is validation.get_runner(warehouse_url)
    assert validation.prepare_runner(warehouse_url) is validation.get_runner(warehouse_url)
    assert validation.get_runner(warehouse_url).datasource._engine is None  # released for the fork
