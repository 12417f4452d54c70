"""Send digests through the escalation's outbox: one row per digest and address, then an
attempt to deliver each row at once.

The outbox makes a digest as durable as a page: the row is written first under the idempotency
key `digest:<kind>:<local date>:<audience>:<address>`, so running the same digest twice (a
retried task, a manual re-run) queues nothing new and sends nothing twice; a failed attempt is
recorded and retried with the notification backoff by the escalation engine's tick, which
delivers every due row (`outbox.deliver_due`), forever, until it goes through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from ..escalation import outbox, store
from ..opsdb.schema import DELIVERED, PENDING
from ..opsdb.schema import outbox as outbox_table
from .compose import Digest, inline_images_json, render_images


@dataclass
class SendReport:
    queued: int = 0  # rows added now
    already_queued: int = 0  # rows of an earlier run of the same digest (never queued twice)
    delivered: int = 0
    failed: int = 0  # recorded; the escalation engine retries them with backoff
    skipped: list[str] = field(default_factory=list)  # digests with nothing to send, and why

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def queue(engine, digests: list[Digest], at: datetime, *, smtp_conn_id: str) -> tuple[SendReport, list[str]]:
    """Write one outbox row per digest and address (charts drawn once per digest); return the
    report and the idempotency keys of every row of these digests."""
    report, keys = SendReport(), []
    rows = []
    for digest in digests:
        if digest.skipped:
            report.skipped.append(f"{digest.kind} digest for {digest.audience.name}: {digest.skipped}")
            continue
        wanted = [(address, conn) for address, conn in digest.audience.emails]
        with engine.connect() as connection:
            existing = set(connection.execute(select(outbox_table.c.idempotency_key).where(
                outbox_table.c.idempotency_key.in_([digest.dedup_key(a) for a, _ in wanted]))).scalars())
        keys += [digest.dedup_key(a) for a, _ in wanted]
        fresh = [(a, c) for a, c in wanted if digest.dedup_key(a) not in existing]
        report.already_queued += len(wanted) - len(fresh)
        if not fresh:
            continue  # no need to draw the charts of a digest queued already
        text, html = digest.text(), digest.html()
        images = inline_images_json(render_images(digest))
        rows += [store.OutboxRow(digest.dedup_key(address), None, "digest", digest.audience.id, "email", address,
                                 conn or smtp_conn_id, subject=digest.subject, body=text, payload="{}", html_body=html,
                                 inline_images=images) for address, conn in fresh]
    with engine.begin() as connection:
        for row in rows:
            if store.enqueue(connection, row, at):
                report.queued += 1
            else:
                report.already_queued += 1  # a concurrent run queued it between the look and the insert
    return report, keys


def send(engine, digests: list[Digest], at: datetime, *, from_email: str, smtp_conn_id: str,
         backoff: outbox.Backoff, wall_clock: datetime | None = None) -> SendReport:
    """Queue the digests and try each of their pending rows now."""
    report, keys = queue(engine, digests, at, smtp_conn_id=smtp_conn_id)
    if not keys:
        return report
    with engine.connect() as connection:
        pending = list(connection.execute(select(outbox_table.c.id).where(
            outbox_table.c.idempotency_key.in_(keys), outbox_table.c.status == PENDING,
            outbox_table.c.next_attempt_at <= at)).scalars())
    for row_id in pending:
        delivery = outbox.deliver_one(engine, row_id, at, from_email=from_email, backoff=backoff, wall_clock=wall_clock)
        report.delivered += delivery.delivered
        report.failed += delivery.failed
    return report


def delivered(engine, keys: list[str]) -> dict[str, datetime | None]:
    """idempotency key -> when it was delivered (None: still pending)."""
    with engine.connect() as connection:
        return {key: (when if status == DELIVERED else None) for key, status, when in connection.execute(
            select(outbox_table.c.idempotency_key, outbox_table.c.status, outbox_table.c.delivered_at)
            .where(outbox_table.c.idempotency_key.in_(keys)))}
