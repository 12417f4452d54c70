"""The only reader/writer of `inbox_messages`."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import Engine, insert, or_, select

from ..opsdb.schema import incidents
from .messages import Caught
from .tables import inbox_messages

# Given DAG ids, those the asking user may read.
ReadableDags = Callable[[set[str]], set[str]]


def record(engine: Engine, caught: Caught, at: datetime | None = None) -> int:
    """Store one caught message; return its id."""
    row = {
        "received_at": at or datetime.now(timezone.utc), "channel": caught.channel, "to": caught.to,
        "subject": caught.subject, "body": caught.body, "incident_id": caught.incident_id, "raw": caught.raw,
    }
    with engine.begin() as connection:
        return connection.execute(insert(inbox_messages).values(row)).inserted_primary_key[0]


def _as_dict(row) -> dict:
    return {"id": row.id, "received_at": row.received_at, "channel": row.channel, "to": row.to,
            "subject": row.subject, "body": row.body, "incident_id": row.incident_id}


def list_messages(engine: Engine, *, limit: int = 100, offset: int = 0, readable: ReadableDags | None = None,
                  incident_id: int | None = None, channel: str | None = None) -> list[dict]:
    """Newest first. With `readable`, a message of an incident whose DAG the user may not read
    is left out (and not counted by limit/offset); messages of no known incident stay."""
    columns = [inbox_messages.c[name] for name in ("id", "received_at", "channel", "to", "subject", "body", "incident_id")]
    query = select(*columns).select_from(inbox_messages)
    if incident_id is not None:
        query = query.where(inbox_messages.c.incident_id == incident_id)
    if channel is not None:
        query = query.where(inbox_messages.c.channel == channel)
    with engine.connect() as connection:
        if readable is not None:
            dag_ids = set(connection.execute(
                select(incidents.c.dag_id).distinct()
                .join(inbox_messages, inbox_messages.c.incident_id == incidents.c.id)
            ).scalars())
            hidden = dag_ids - set(readable(dag_ids)) if dag_ids else set()
            if hidden:
                query = query.outerjoin(incidents, incidents.c.id == inbox_messages.c.incident_id).where(
                    or_(incidents.c.id.is_(None), incidents.c.dag_id.notin_(sorted(hidden))))
        query = query.order_by(inbox_messages.c.received_at.desc(), inbox_messages.c.id.desc()).limit(limit).offset(offset)
        return [_as_dict(row) for row in connection.execute(query)]
