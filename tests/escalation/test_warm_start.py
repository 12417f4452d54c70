"""A task process gets its ops DB ready before a failure needs it: the task's execute hook
warms the escalation service in a daemon thread (the task waits for it a second at most), and a process forked from a parent that
verified the ops DB schema skips its own check (and checks again when a report fails)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest


def _join_warm_up() -> None:
    for thread in threading.enumerate():
        if thread.name == "techflow-ops-db-warm-up":
            thread.join(timeout=30)


@pytest.fixture
def verified(ops_db_url):
    from techflow_ops.opsdb import engine as opsdb_engine

    opsdb_engine.forget_verified()
    yield opsdb_engine
    opsdb_engine.forget_verified()
    opsdb_engine.dispose_engines()


def test_task_hooks_warm_the_ops_db_when_the_task_starts(ops_db_url):
    import techflow_ops.escalation as escalation
    from techflow_ops.oncall import clear_schedule_cache

    clear_schedule_cache()
    from techflow_ops.escalation.callbacks import WarmOpsDb, task_hooks

    [hook] = task_hooks("profit")["on_execute_callback"]
    assert isinstance(hook, WarmOpsDb)
    assert hook({"ti": None}) is None
    # The task started once its connection was made (no join here): open and pooled, ready for
    # the failure, and no warm-up left running beside the task.
    service = escalation.service()
    assert service.engine.pool.checkedin() >= 1
    assert not [t for t in threading.enumerate() if t.name == "techflow-ops-db-warm-up"]
    from techflow_ops.oncall import service as oncall_service

    assert oncall_service._cache._entries  # the schedule a failure pages from is loaded too


def test_a_task_waits_for_a_hanging_ops_db_one_warm_up_wait_at_most(ops_db_url, monkeypatch):
    from techflow_ops.escalation import callbacks

    answered = threading.Event()
    monkeypatch.setattr(callbacks, "warm_ops_db", lambda: answered.wait(30))
    monkeypatch.setattr(callbacks, "WARM_UP_WAIT_SECONDS", 0.05)
    try:
        callbacks.WarmOpsDb("profit")({"ti": None})  # returns: the task runs while the warm-up still waits
        [warm_up] = [t for t in threading.enumerate() if t.name == "techflow-ops-db-warm-up"]
        assert warm_up.is_alive() and warm_up.daemon
    finally:
        answered.set()
    _join_warm_up()


def test_the_warm_up_never_raises(ops_db_url, monkeypatch):
    import techflow_ops.escalation as escalation
    from techflow_ops.escalation import callbacks

    def broken():
        raise RuntimeError("ops DB down")

    monkeypatch.setattr(escalation, "service", broken)
    assert callbacks.warm_ops_db() is False
    monkeypatch.setattr(threading.Thread, "start", lambda self: broken())
    callbacks.WarmOpsDb("profit")({})  # no thread at all: still no exception


def test_a_warm_up_racing_the_failure_report_makes_one_engine(ops_db_url, connections, smtp_server):
    import techflow_ops.escalation as escalation
    from techflow_ops.escalation.callbacks import ReportTaskFailure, WarmOpsDb
    from techflow_ops.opsdb import engine as opsdb_engine

    made = []
    real = opsdb_engine.make_engine
    opsdb_engine.make_engine = lambda url=None: made.append(url) or real(url)
    try:
        WarmOpsDb("profit")({})
        ReportTaskFailure("profit")({"ti": {"dag_id": "profit_daily", "run_id": "r1", "task_id": "load", "try_number": 1},
                                     "exception": RuntimeError("revenue file missing")})
        _join_warm_up()
    finally:
        opsdb_engine.make_engine = real
    assert made == [ops_db_url]
    [incident] = escalation.list_incidents(pipeline_id="profit")
    assert incident.task_id == "load"


def test_a_child_of_a_verified_parent_skips_the_schema_check(ops_db_url, verified, monkeypatch):
    assert verified.verify_for_forks(ops_db_url) == verified.head_revision()
    assert verified.verified_by_parent(ops_db_url)

    def no_check(url, engine):
        raise AssertionError("the schema was checked again")

    monkeypatch.setattr(verified, "migrate_to_head", no_check)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the task process: inherits the record, makes its own engine without the check
        try:
            engine = verified.get_engine(ops_db_url)
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT count(*) FROM incidents").scalar()
            os.write(write, b"ok")
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            os.write(write, repr(exc).encode()[:500])
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 1000) == b"ok"
    os.close(read)

    verified.forget_verified(ops_db_url)  # not verified: the check runs
    verified.dispose_engines()
    with pytest.raises(AssertionError, match="checked again"):
        verified.get_engine(ops_db_url)


def test_a_failure_report_checks_the_schema_again_when_the_ops_db_was_replaced(ops_db_url, verified, connections,
                                                                                 smtp_server):
    import techflow_ops.escalation as escalation
    from techflow_ops.escalation.callbacks import ReportTaskFailure

    verified.verify_for_forks(ops_db_url)
    verified.dispose_engines()
    escalation.reset_service()
    database = Path(ops_db_url.removeprefix("sqlite:///"))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        path.unlink(missing_ok=True)  # replaced after the parent verified it: no tables
    smtp_server.messages.clear()

    ReportTaskFailure("profit")({"ti": {"dag_id": "profit_daily", "run_id": "r1", "task_id": "load", "try_number": 1},
                                 "exception": RuntimeError("revenue file missing")})

    assert not verified.verified_by_parent(ops_db_url)
    [incident] = escalation.list_incidents(pipeline_id="profit")
    assert incident.task_id == "load"
    assert smtp_server.messages  # paged once the schema was back


def test_a_rehearsed_failure_report_records_and_sends_nothing(ops_db_url, connections, smtp_server):
    from sqlalchemy import func, select

    import techflow_ops.escalation as escalation
    from techflow_ops.opsdb import schema

    service = escalation.service()
    assert service.rehearse_failure_reports() == len(service.registry.pipelines) == 5
    with service.engine.connect() as connection:
        counts = {table.name: connection.execute(select(func.count()).select_from(table)).scalar()
                  for table in (schema.incidents, schema.incident_events, schema.outbox, schema.page_messages)}
    assert counts == {"incidents": 0, "incident_events": 0, "outbox": 0, "page_messages": 0}
    assert smtp_server.messages == []
    # What it rehearsed is what a report runs: the statements are compiled now.
    assert len(service.engine._compiled_cache) >= 5


def test_a_task_process_forked_after_the_hand_down_pages_on_the_adopted_engine(ops_db_url, verified, connections,
                                                                                 smtp_server):
    import techflow_ops.escalation as escalation

    verified.verify_for_forks(ops_db_url)
    parent_service = escalation.service()
    parent_service.rehearse_failure_reports()
    compiled_in_parent = len(parent_service.engine._compiled_cache)
    assert ops_db_url in verified.hand_down_engines()
    parent_pool = parent_service.engine.pool
    assert parent_pool.checkedin() == 0  # no connection crosses the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the task process
        try:
            engine = verified.get_engine(ops_db_url)
            adopted = engine is parent_service.engine and engine.pool is not parent_pool
            compiled_before = len(engine._compiled_cache)
            escalation.report_failure(pipeline_id="profit", dag_id="profit_daily", run_id="r1", task_id="load",
                                      try_number=1, exception=RuntimeError("revenue file missing"))
            # Nothing the report ran needed compiling (its outcome's own marks may add a few).
            os.write(write, f"{adopted} {compiled_before}".encode())
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            os.write(write, repr(exc).encode()[:500])
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    report = os.read(read, 1000).decode()
    os.close(read)
    assert report == f"True {compiled_in_parent}"
    [incident] = escalation.list_incidents(pipeline_id="profit")
    assert incident.task_id == "load"
    assert smtp_server.messages  # paged from the task process


def test_a_child_forked_after_the_engines_were_disposed_makes_its_own(ops_db_url, verified):
    engine = verified.get_engine(ops_db_url)
    verified.hand_down_engines()
    verified.dispose_engines()  # e.g. a failed report that checks the schema again
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, str(verified.get_engine(ops_db_url) is engine).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 100) == b"False"
    os.close(read)
