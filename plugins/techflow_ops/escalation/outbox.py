"""The durable outbox: every notification is a row first, then a delivery attempt.

A row is claimed (a lease with a random token) before sending and marked delivered with
the same token after, so two processes never send the same row at once and a delivered
row is never sent again. A failed attempt is recorded and retried with exponential
backoff, forever: nothing is dropped. The one window for a repeat is a process killed
after the receiver accepted the message and before the row was marked (at-least-once
there, as with any outbox); the lease keeps that to one extra send at most per lease.
Recording the outcome is retried on a transient database error (a locked SQLite file, a
dropped PostgreSQL connection) so a delivered row is not sent again for want of its mark.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import action_links, channels, store
from .messages import ROLE_SLOT, fill_links

CLAIM_LEASE = timedelta(minutes=5)
BATCH = 200

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    first: timedelta
    max: timedelta

    def after(self, attempts: int) -> timedelta:
        return min(self.first * (2 ** max(attempts - 1, 0)), self.max)


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # rows that raised instead of recording an outcome

    def __iadd__(self, other: "DeliveryReport") -> "DeliveryReport":
        self.delivered += other.delivered
        self.failed += other.failed
        self.errors += other.errors
        return self


def fill_row_text(body: str, fields: dict) -> dict:
    """A page's text for one outbox row: the recipient's role, and for a page about an incident
    (not a notice) acknowledge/resolve links signed now for this recipient and incident, so
    they expire counted from delivery (a retry signs new ones)."""
    links = {}
    if fields["purpose"] == "page" and fields["incident_id"] is not None:
        links = action_links.links_for(fields["incident_id"], fields["recipient"])
    return {"body": fill_links(body.replace(ROLE_SLOT, fields["role"] or "", 1), links), "action_links": links}


def deliver_one(engine, row_id: int, at: datetime, *, from_email: str, backoff: Backoff,
                wall_clock: datetime | None = None) -> DeliveryReport:
    """Try to deliver one pending row; record the outcome (and a timeline event for pages)."""
    with engine.begin() as connection:
        row, token = store.claim(connection, row_id, max(at, wall_clock or at), CLAIM_LEASE, fill_row_text)
    if row is None:
        return DeliveryReport()
    return _send(engine, row, token, at, from_email=from_email, backoff=backoff)


def _send(engine, row, token: str, at: datetime, *, from_email: str, backoff: Backoff) -> DeliveryReport:
    """Send a claimed row; record the outcome (and a timeline event for pages)."""
    try:
        channels.deliver(row, from_email)
    except Exception as exc:  # noqa: BLE001 - any delivery failure is recorded and retried
        _record_failure(engine, row, token, at, f"{type(exc).__name__}: {exc}"[:2000], backoff)
        return DeliveryReport(failed=1)
    except BaseException as exc:
        # A task timeout or a kill mid-send: whether the receiver got it is unknown, so the
        # attempt is recorded as failed (retried after the backoff, not after the lease).
        _record_failure(engine, row, token, at, f"interrupted: {type(exc).__name__}: {exc}"[:2000], backoff)
        raise
    store.record_retried(engine, lambda connection: store.mark_delivered(connection, row, token, at))
    return DeliveryReport(delivered=1)


def _record_failure(engine, row, token: str, at: datetime, error: str, backoff: Backoff) -> None:
    retry_at = at + backoff.after(row.attempts)
    store.record_retried(engine, lambda connection: store.mark_failed(connection, row, token, at, error, retry_at))


def _postpone(engine, row_id: int, at: datetime, error: str, backoff: Backoff) -> None:
    try:
        with engine.begin() as connection:
            store.postpone(connection, row_id, error, lambda attempts: at + backoff.after(attempts))
    except Exception:
        log.exception("outbox row %s: could not record the error", row_id)


def deliver_claimed(engine, rows: list[dict], token: str, at: datetime, *, from_email: str, backoff: Backoff,
                    time_budget: timedelta = timedelta(seconds=40)) -> DeliveryReport:
    """Send rows claimed with `token` when they were queued (`store.Writes.claim_new_rows`), in
    order, recording each outcome as `deliver_due` does. Claims of rows not attempted (the time
    budget spent, or the process interrupted) are given back, so the engine sends them at its
    next tick rather than once the lease ends."""
    report = DeliveryReport()
    deadline = time.monotonic() + time_budget.total_seconds()
    pending = list(rows)
    try:
        while pending and time.monotonic() < deadline:
            fields = pending.pop(0)
            try:
                report += _send(engine, store.with_text(fields, fill_row_text), token, at, from_email=from_email, backoff=backoff)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:2000]
                log.exception("outbox row %s: delivery attempt raised", fields["id"])
                report.failed += 1
                report.errors.append(f"outbox row {fields['id']}: {error}")
                _postpone(engine, fields["id"], at, error, backoff)
    finally:
        if pending:
            try:
                store.record_retried(engine, lambda connection: store.release_claims(
                    connection, [fields["id"] for fields in pending], token))
            except Exception:
                log.exception("outbox rows %s: could not give back their claims (sent once their lease ends)",
                              [fields["id"] for fields in pending])
    return report


def deliver_due(engine, at: datetime, *, from_email: str, backoff: Backoff, incident_id: int | None = None,
                wall_clock: datetime | None = None, batch: int = BATCH,
                time_budget: timedelta = timedelta(seconds=40)) -> DeliveryReport:
    """Deliver rows due at `at`, `batch` at a time, until none is due or `time_budget` is spent
    (a backlog drains in one call, and the caller still finishes within its own timeout).
    A row that raises is logged, reported in `errors` and skipped: the batch goes on."""
    report = DeliveryReport()
    deadline = time.monotonic() + time_budget.total_seconds()
    attempted: set[int] = set()
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            due = store.due_outbox_ids(connection, at, incident_id=incident_id, limit=batch)
        row_ids = [i for i in due if i not in attempted]
        if not row_ids:
            break
        for row_id in row_ids:
            if time.monotonic() >= deadline:
                break
            attempted.add(row_id)
            try:
                report += deliver_one(engine, row_id, at, from_email=from_email, backoff=backoff, wall_clock=wall_clock)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:2000]
                log.exception("outbox row %s: delivery attempt raised", row_id)
                report.failed += 1
                report.errors.append(f"outbox row {row_id}: {error}")
                _postpone(engine, row_id, at, error, backoff)
    return report
