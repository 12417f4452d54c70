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

import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.exc import OperationalError

from ..opsdb.schema import outbox, page_messages
from .messages import ROLE_SLOT
from .store import add_event

PENDING, DELIVERED = "pending", "delivered"
CLAIM_LEASE = timedelta(minutes=5)
BATCH = 200
RECORD_ATTEMPTS = 4  # transactions recording an outcome, 0.1 + 0.2 + 0.4 s apart
RECORD_RETRY_SLEEP = 0.1

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


def new_row(*, idempotency_key: str, incident_id: int | None, purpose: str, recipient: str, channel: str,
            target: str, connection_id: str | None, subject: str, body: str, at: datetime,
            payload: dict | None = None) -> dict:
    """A pending outbox row; the idempotency key makes queuing the same notification twice a no-op."""
    return {
        "idempotency_key": idempotency_key, "incident_id": incident_id, "purpose": purpose, "recipient": recipient,
        "channel": channel, "target": target, "connection_id": connection_id, "subject": subject, "body": body,
        "payload": json.dumps(payload or {}), "status": PENDING, "attempts": 0, "created_at": at, "next_attempt_at": at,
    }


def enqueue(connection, **fields) -> bool:
    """Add one notification unless one with the same key exists; True when added."""
    from .store import _insert_ignoring_duplicate

    return _insert_ignoring_duplicate(connection, outbox, new_row(**fields), "idempotency_key")


def due_ids(engine: Engine, at: datetime, *, incident_id: int | None = None, limit: int = BATCH) -> list[int]:
    query = (
        select(outbox.c.id)
        .where(outbox.c.status == PENDING, outbox.c.next_attempt_at <= at)
        .where(or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < at))
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(limit)
    )
    if incident_id is not None:
        query = query.where(outbox.c.incident_id == incident_id)
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def _claim(engine: Engine, row_id: int, at: datetime, wall_clock: datetime):
    token = secrets.token_hex(16)
    with engine.begin() as connection:
        claimed = connection.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.status == PENDING)
            .where(or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < max(at, wall_clock)))
            .values(claimed_until=max(at, wall_clock) + CLAIM_LEASE, claim_token=token, attempts=outbox.c.attempts + 1)
        ).rowcount
        if not claimed:
            return None, None
        row = connection.execute(
            select(outbox, page_messages.c.subject.label("message_subject"), page_messages.c.body.label("message_body"),
                   page_messages.c.payload.label("message_payload"))
            .select_from(outbox.outerjoin(page_messages, page_messages.c.key == outbox.c.message_key))
            .where(outbox.c.id == row_id)
        ).first()
        return _with_text(row), token


def _with_text(row) -> SimpleNamespace:
    """The row with the subject, body and payload it sends: its own, or its page's with its role filled in."""
    fields = dict(row._mapping)
    subject, body, payload = fields.pop("message_subject"), fields.pop("message_body"), fields.pop("message_payload")
    if fields["message_key"] is not None:
        if body is None:
            raise LookupError(f"outbox row {fields['id']}: page message {fields['message_key']!r} is missing")
        fields.update(subject=subject, body=body.replace(ROLE_SLOT, fields["role"] or "", 1), payload=payload)
    return SimpleNamespace(**fields)


def _record(engine: Engine, write) -> None:
    """Run `write(connection)` in a transaction, retried on a transient database error."""
    for attempt in range(RECORD_ATTEMPTS):
        try:
            with engine.begin() as connection:
                write(connection)
            return
        except OperationalError:
            if attempt == RECORD_ATTEMPTS - 1:
                raise
            time.sleep(RECORD_RETRY_SLEEP * 2 ** attempt)


def _record_failure(engine: Engine, row, token: str, at: datetime, error: str, backoff: Backoff) -> None:
    retry_at = at + backoff.after(row.attempts)

    def write(connection) -> None:
        connection.execute(
            update(outbox).where(and_(outbox.c.id == row.id, outbox.c.claim_token == token))
            .values(claimed_until=None, claim_token=None, last_error=error, next_attempt_at=retry_at)
        )
        if row.incident_id is not None:
            add_event(connection, row.incident_id, at, "notification_failed",
                      f"{row.channel} to {row.recipient} ({row.target}) failed (attempt {row.attempts}): {error}; "
                      f"retry at {retry_at.isoformat()}",
                      data={"outbox_id": row.id, "attempt": row.attempts, "retry_at": retry_at})

    _record(engine, write)


def deliver_one(engine: Engine, row_id: int, at: datetime, *, from_email: str, backoff: Backoff,
                wall_clock: datetime | None = None) -> DeliveryReport:
    """Try to deliver one pending row; record the outcome (and a timeline event for pages)."""
    from . import channels

    wall_clock = wall_clock or at
    row, token = _claim(engine, row_id, at, wall_clock)
    if row is None:
        return DeliveryReport()
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

    def mark_delivered(connection) -> None:
        connection.execute(
            update(outbox).where(and_(outbox.c.id == row_id, outbox.c.claim_token == token))
            .values(status=DELIVERED, delivered_at=at, claimed_until=None, last_error=None)
        )
        if row.incident_id is not None:
            add_event(connection, row.incident_id, at, "notified",
                      f"{row.channel} to {row.recipient} ({row.target}) delivered"
                      + (f" after {row.attempts} attempts" if row.attempts > 1 else ""),
                      data={"outbox_id": row.id, "attempt": row.attempts})

    _record(engine, mark_delivered)
    return DeliveryReport(delivered=1)


def _note_error(engine: Engine, row_id: int, at: datetime, error: str, backoff: Backoff) -> None:
    """Keep a row whose attempt raised from being retried at once (its claim, if any, stands)."""
    try:
        with engine.begin() as connection:
            attempts = connection.execute(select(outbox.c.attempts).where(outbox.c.id == row_id)).scalar() or 0
            connection.execute(
                update(outbox).where(outbox.c.id == row_id, outbox.c.status == PENDING)
                .values(last_error=error, next_attempt_at=at + backoff.after(max(attempts, 1)))
            )
    except Exception:  # noqa: BLE001 - the error is already logged and reported
        log.exception("outbox row %s: could not record the error", row_id)


def deliver_due(engine: Engine, at: datetime, *, from_email: str, backoff: Backoff, incident_id: int | None = None,
                wall_clock: datetime | None = None, batch: int = BATCH,
                time_budget: timedelta = timedelta(seconds=40)) -> DeliveryReport:
    """Deliver rows due at `at`, `batch` at a time, until none is due or `time_budget` is spent
    (a backlog drains in one call, and the caller still finishes within its own timeout).
    A row that raises is logged, reported in `errors` and skipped: the batch goes on."""
    report = DeliveryReport()
    deadline = time.monotonic() + time_budget.total_seconds()
    attempted: set[int] = set()
    while time.monotonic() < deadline:
        row_ids = [i for i in due_ids(engine, at, incident_id=incident_id, limit=batch) if i not in attempted]
        if not row_ids:
            break
        for row_id in row_ids:
            if time.monotonic() >= deadline:
                break
            attempted.add(row_id)
            try:
                report += deliver_one(engine, row_id, at, from_email=from_email, backoff=backoff, wall_clock=wall_clock)
            except Exception as exc:  # noqa: BLE001 - one row must not stop the others
                error = f"{type(exc).__name__}: {exc}"[:2000]
                log.exception("outbox row %s: delivery attempt raised", row_id)
                report.failed += 1
                report.errors.append(f"outbox row {row_id}: {error}")
                _note_error(engine, row_id, at, error, backoff)
    return report
