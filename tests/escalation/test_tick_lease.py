"""The tick lease (`engine_state.tick_lease`, `Escalation.tick`): two ticks at the same time
(the engine DAG and the watchdog, or a tick by hand) never both advance incidents, on SQLite and
on PostgreSQL; a crashed tick's lease is taken over once it expires (wall clock, not `at`);
sequential ticks driven by a fake clock are never refused."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from . import test_opsdb_postgres
from .conftest import T0

postgres_url = test_opsdb_postgres.postgres_url  # the throwaway PostgreSQL ops DB fixture
DUE = T0 + timedelta(minutes=5, seconds=1)  # growth's second step is due 5 minutes after the first page
HOLD = 1.0  # seconds the first tick is held inside its work, so the second one meets it there


def wall_now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ops_url(request, connections):
    return request.getfixturevalue("ops_db_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
def escalation(ops_url, connections, schedule):
    """The orchestrator on a fresh ops DB of each backend (overrides the SQLite-only fixture)."""
    from techflow_ops.escalation.orchestrator import Escalation
    from techflow_ops.opsdb import get_engine

    return Escalation(engine=get_engine(ops_url), schedule=schedule)


def _lease(escalation) -> str | None:
    from techflow_ops.escalation import store
    from techflow_ops.escalation.orchestrator import TICK_LEASE_KEY

    with escalation.engine.connect() as connection:
        return store.get_state(connection, TICK_LEASE_KEY)


def _set_lease(escalation, value: str) -> None:
    from techflow_ops.escalation import store
    from techflow_ops.escalation.orchestrator import TICK_LEASE_KEY

    with escalation.engine.begin() as connection:
        store.set_state(connection, TICK_LEASE_KEY, value)


def _paged(escalation, incident_id: int) -> list[dict]:
    return [e for e in escalation.get_incident(incident_id).timeline if e["kind"] == "paged"]


def _hold_ticks_in_their_work(monkeypatch, schedule, parties: int = 2, entered: threading.Event | None = None,
                              during=None):
    """Hold every tick where its work begins (reading the on-call schedule, before it reads the due
    incidents; no transaction open), until `parties` ticks are there or HOLD seconds passed. With
    the lease only its holder gets there; without one both would, and would both fire the step."""
    barrier = threading.Barrier(parties, timeout=HOLD)
    original = schedule.now

    def held(at):
        if entered is not None:
            entered.set()
        if during is not None:
            during()
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return original(at)

    monkeypatch.setattr(schedule, "now", held)


def test_two_racing_ticks_fire_a_due_step_exactly_once(escalation, schedule, smtp_server, monkeypatch):
    incident_id = escalation.report_failure(pipeline_id="growth", run_id="r1", task_id="t", error="boom", at=T0)
    assert len(_paged(escalation, incident_id)) == 1
    first_page = len(smtp_server.messages)
    assert first_page > 0
    outbox_before = len(escalation.get_incident(incident_id).notifications)

    _hold_ticks_in_their_work(monkeypatch, schedule)
    # ... and once more right after reading the due incidents: without the lease both would hold
    # the same due incident here (PostgreSQL: both read it before either commits) and fire it twice.
    from techflow_ops.escalation import store

    read, after_read = store.due_incidents, threading.Barrier(2, timeout=HOLD)

    def due_then_hold(*args, **kwargs):
        due = read(*args, **kwargs)
        try:
            after_read.wait()
        except threading.BrokenBarrierError:
            pass
        return due

    monkeypatch.setattr(store, "due_incidents", due_then_hold)
    start = threading.Barrier(2)
    reports: list = []

    def tick(by):
        start.wait()
        reports.append(escalation.tick(DUE, by=by))

    threads = [threading.Thread(target=tick, args=(by,)) for by in ("engine", "watchdog")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(reports) == 2

    assert sum(r.escalated for r in reports) == 1, [r.to_dict() for r in reports]
    skipped = [r for r in reports if r.skipped]
    ran = [r for r in reports if not r.skipped]
    assert len(skipped) == 1 and len(ran) == 1, [r.to_dict() for r in reports]
    assert "tick lease" in skipped[0].skipped and skipped[0].to_dict()["skipped"] == skipped[0].skipped
    assert (skipped[0].escalated, skipped[0].delivered, skipped[0].errors) == (0, 0, [])
    assert ran[0].escalated == 1 and ran[0].errors == []
    incident = escalation.get_incident(incident_id)
    assert incident.step_index == 2 and incident.level == 1
    assert len(_paged(escalation, incident_id)) == 2, "the second step fired exactly once"
    step_two = incident.notifications[outbox_before:]
    assert step_two and all(n["status"] == "delivered" and n["attempts"] == 1 for n in step_two)
    mails = smtp_server.messages[first_page:]
    assert len(mails) == sum(n["channel"] == "email" for n in step_two), "each step-2 mail sent once"
    assert len({tuple(m.recipients) for m in mails}) == len(mails)
    assert _lease(escalation) is None, "released at the end"


@pytest.mark.parametrize("path", ["insert", "update"])
def test_the_lease_is_a_compare_and_set_under_concurrent_transactions(escalation, path):
    """A second process acquiring while the first's acquisition is not committed yet waits for it
    (PostgreSQL: the unique key, or the row lock; SQLite: the write lock) and then does not get it."""
    from techflow_ops.escalation import store

    now, lease = wall_now(), timedelta(minutes=5)
    if path == "update":
        _set_lease(escalation, f"{(now - timedelta(seconds=1)).isoformat()} crashed")  # expired: both may try
    second: dict = {}

    def acquire_second():
        with escalation.engine.begin() as connection:
            second["value"] = store.acquire_lease(connection, "tick_lease", now, lease)

    with escalation.engine.connect() as connection:
        transaction = connection.begin()
        first = store.acquire_lease(connection, "tick_lease", now, lease)
        assert first is not None and store.lease_expiry(first) == now + lease
        thread = threading.Thread(target=acquire_second)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), "the second acquisition waits for the first transaction"
        transaction.commit()
        thread.join(30)
    assert "value" in second and second["value"] is None
    assert _lease(escalation) == first


def test_a_live_lease_is_respected_and_a_crashed_ticks_expired_lease_is_taken_over(escalation, smtp_server):
    from techflow_ops.escalation.orchestrator import LAST_TICK_KEY

    incident_id = escalation.report_failure(pipeline_id="growth", run_id="r1", task_id="t", error="boom", at=T0)
    mails = len(smtp_server.messages)
    # Another tick holds the lease (wall clock): even at a fake `at` far past its expiry, nothing is done.
    held = f"{(wall_now() + timedelta(minutes=5)).isoformat()} other-process"
    _set_lease(escalation, held)
    report = escalation.tick(datetime(2031, 1, 1, tzinfo=timezone.utc))
    assert report.skipped and report.escalated == 0 and report.errors == []
    assert escalation.get_incident(incident_id).step_index == 1 and len(smtp_server.messages) == mails
    assert _lease(escalation) == held, "someone else's lease is not released"
    assert escalation.last_successful_tick() is None, "a skipped tick is not a successful one"
    with escalation.engine.connect() as connection:
        from techflow_ops.escalation import store

        assert store.get_state(connection, LAST_TICK_KEY) is None

    # That process crashed: its lease expired a second ago (wall clock), though still "after" the fake `at`.
    _set_lease(escalation, f"{(wall_now() - timedelta(seconds=1)).isoformat()} other-process")
    report = escalation.tick(DUE)
    assert not report.skipped and report.escalated == 1
    assert escalation.get_incident(incident_id).step_index == 2 and len(smtp_server.messages) > mails
    assert _lease(escalation) is None
    assert escalation.last_successful_tick() is not None


def test_sequential_ticks_with_a_fake_clock_are_never_refused(escalation):
    incident_id = escalation.report_failure(pipeline_id="growth", run_id="r1", task_id="t", error="boom", at=T0,
                                            deliver=False)
    escalated = 0
    for minute in range(0, 40, 3):  # a fake minute clock: steps 2, 3 and 4 come due and fire
        report = escalation.tick(T0 + timedelta(minutes=minute), deliver=False)
        assert report.skipped is None, (minute, report.skipped)
        assert _lease(escalation) is None
        escalated += report.escalated
    assert escalated == 3 and escalation.get_incident(incident_id).step_index == 4
    for at in (datetime(2035, 1, 1, tzinfo=timezone.utc), T0 - timedelta(days=30), T0 + timedelta(hours=1)):
        assert escalation.tick(at, deliver=False).skipped is None, at  # the clock jumping about: still never refused


def test_a_tick_that_raises_releases_its_lease(escalation, monkeypatch):
    from techflow_ops.escalation import store

    escalation.report_failure(pipeline_id="growth", run_id="r1", task_id="t", error="boom", at=T0, deliver=False)
    original = store.due_incidents
    monkeypatch.setattr(store, "due_incidents", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("ops DB hiccup")))
    with pytest.raises(RuntimeError, match="ops DB hiccup"):
        escalation.tick(DUE)
    assert _lease(escalation) is None
    monkeypatch.setattr(store, "due_incidents", original)
    report = escalation.tick(DUE)
    assert report.skipped is None and report.escalated == 1


def test_a_tick_releases_only_its_own_lease(escalation, schedule, monkeypatch):
    """A tick that outlived its lease, taken over meanwhile by another process, leaves theirs alone."""
    taken_over = f"{(wall_now() + timedelta(minutes=5)).isoformat()} the-next-holder"
    _hold_ticks_in_their_work(monkeypatch, schedule, parties=1, during=lambda: _set_lease(escalation, taken_over))
    report = escalation.tick(DUE)
    assert report.skipped is None and report.errors == []
    assert _lease(escalation) == taken_over
    monkeypatch.undo()
    assert escalation.tick(DUE).skipped, "the next holder's lease stands"


def test_the_cli_tick_counts_as_the_engine_and_a_skipped_tick_is_not_an_error(ops_db_url, connections, schedule,
                                                                                monkeypatch, capsys):
    import techflow_ops.escalation as escalation_api
    from techflow_ops.cli import main
    from techflow_ops.escalation import store
    from techflow_ops.escalation.orchestrator import WATCHDOG_TICK_KEY, Escalation

    instance = Escalation(schedule=schedule)
    monkeypatch.setattr(escalation_api, "service", lambda: instance)
    _set_lease(instance, f"{(wall_now() + timedelta(minutes=5)).isoformat()} the-engine-dag")
    assert main(["escalation", "tick", "--at", DUE.isoformat()]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["skipped"] and out["by"] == "engine" and out["errors"] == []
    assert instance.last_successful_tick() is None
    with instance.engine.begin() as connection:
        connection.execute(store.engine_state.delete())
    assert main(["escalation", "tick", "--at", DUE.isoformat()]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["skipped"] is None and out["by"] == "engine"
    assert instance.last_successful_tick() is not None
    with instance.engine.connect() as connection:
        assert store.get_state(connection, WATCHDOG_TICK_KEY) is None
