"""Incidents and their timeline in the ops DB: SQLAlchemy Core, one connection per call site."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, String, cast, insert, select, update

from ..opsdb.schema import incident_events, incidents, outbox, page_messages

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATUSES = (OPEN, ACKNOWLEDGED, RESOLVED)


class IncidentNotFound(LookupError):
    pass


class IncidentStateError(ValueError):
    """The requested change does not apply to the incident's current status."""


def dedup_key(pipeline_id: str, dag_id: str, run_id: str | None, task_id: str | None, kind: str) -> str:
    """One open incident per failure: the task of a run, or the run itself for DAG failures and
    deadline misses (freed when the incident is resolved, see `resolved_values`)."""
    return "|".join([pipeline_id, dag_id, run_id or "-", task_id or "-", kind if task_id is None else "task"])


def resolved_values(user: str, at: datetime) -> dict:
    """The UPDATE values that resolve an incident. They also free its dedup key (suffixed with
    the incident id, so it stays unique): the same failure reported after the resolution, e.g.
    the task cleared and failing again in the same run, opens a new incident that pages, with
    its own outbox idempotency keys, instead of a `reported_again` on a closed one."""
    return {
        "status": RESOLVED, "resolved_by": user, "resolved_at": at, "next_step_at": None, "updated_at": at,
        "dedup_key": incidents.c.dedup_key + "#resolved-" + cast(incidents.c.id, String),
    }


def _insert_ignoring_duplicate(connection: Connection, table, values: dict, conflict_column: str) -> bool:
    """Insert unless a row with the same unique `conflict_column` exists; True when inserted."""
    statement = _dialect_insert(connection)(table).values(**values).on_conflict_do_nothing(index_elements=[conflict_column])
    return connection.execute(statement).rowcount == 1


def _dialect_insert(connection: Connection):
    dialect = connection.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        raise RuntimeError(f"ops DB dialect {dialect!r} is not supported (use SQLite or PostgreSQL)")
    return dialect_insert


class Writes:
    """Timeline events, outbox rows and step updates of one transaction at one instant, written
    set-wise: an engine tick after an outage may fire thousands of steps at once. Rows are
    tuples of database-ready values sent with one executemany per table (the instant is
    converted once, not per row), and incidents that move to the same step state are updated
    with one UPDATE ... WHERE id IN (...)."""

    EVENT_COLUMNS = ("incident_id", "kind", "message", "actor", "level", "data")
    MESSAGE_COLUMNS = ("key", "incident_id", "subject", "body", "payload")
    OUTBOX_COLUMNS = ("idempotency_key", "incident_id", "purpose", "recipient", "channel", "target", "connection_id",
                      "message_key", "role")
    ID_CHUNK = 5000  # ids per IN (...): under SQLite's 32,766 bound variables

    def __init__(self, at: datetime):
        self.at = at
        self.events: list[tuple] = []
        self.messages: list[tuple] = []
        self.outbox: list[tuple] = []
        self.steps: dict[tuple, list[int]] = {}

    def event(self, incident_id: int, kind: str, message: str = "", *, actor: str | None = None,
              level: int | None = None, data: dict | str | None = None) -> None:
        """`data` may be JSON already: one step's event data is serialised once for all its incidents."""
        data = data if isinstance(data, str) else json.dumps(data or {}, default=str)
        self.events.append((incident_id, kind, message, actor, level, data))

    def step(self, incident_ids: list[int], *, step_index: int, cycle: int, level: int,
             next_step_at: datetime | None) -> None:
        self.steps.setdefault((step_index, cycle, level, next_step_at), []).extend(incident_ids)

    def message(self, row: tuple) -> None:
        """A page's text in MESSAGE_COLUMNS order, shared by the outbox rows naming its key."""
        self.messages.append(row)

    def notification(self, row: tuple) -> None:
        """A pending outbox row in OUTBOX_COLUMNS order; a row whose idempotency key exists is skipped."""
        self.outbox.append(row)

    def flush(self, connection: Connection) -> None:
        from .outbox import PENDING

        at = _bind_value(connection, incident_events.c.at, self.at)
        if self.events:
            _insert_many(connection, incident_events, self.EVENT_COLUMNS + ("at",), [e + (at,) for e in self.events])
        if self.messages:
            _insert_many(connection, page_messages, self.MESSAGE_COLUMNS + ("created_at",),
                         [m + (at,) for m in self.messages], ignore_conflict_on="key")
        if self.outbox:
            _insert_many(connection, outbox, self.OUTBOX_COLUMNS + ("status", "attempts", "created_at", "next_attempt_at"),
                         [r + (PENDING, 0, at, at) for r in self.outbox], ignore_conflict_on="idempotency_key")
        for (step_index, cycle, level, next_step_at), ids in self.steps.items():
            for start in range(0, len(ids), self.ID_CHUNK):
                connection.execute(
                    update(incidents).where(incidents.c.id.in_(ids[start:start + self.ID_CHUNK]))
                    .values(step_index=step_index, cycle=cycle, level=level, next_step_at=next_step_at, updated_at=self.at)
                )
        self.events, self.messages, self.outbox, self.steps = [], [], [], {}


def _bind_value(connection: Connection, column, value):
    """`value` as the driver receives it for `column` (what SQLAlchemy would send)."""
    dialect = connection.dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process else value


def _insert_many(connection: Connection, table, columns: tuple[str, ...], rows: list[tuple], *,
                 ignore_conflict_on: str | None = None) -> None:
    """One executemany of database-ready tuples, bypassing per-row parameter processing
    (the cost that dominates a bulk insert through the SQL expression layer)."""
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
    tail = f" ON CONFLICT ({ignore_conflict_on}) DO NOTHING" if ignore_conflict_on else ""
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    connection.exec_driver_sql(head + f"({', '.join([mark] * len(columns))})" + tail, rows)


def add_event(connection: Connection, incident_id: int, at: datetime, kind: str, message: str = "", *,
              actor: str | None = None, level: int | None = None, data: dict | None = None) -> None:
    connection.execute(
        insert(incident_events).values(
            incident_id=incident_id, at=at, kind=kind, message=message, actor=actor, level=level,
            data=json.dumps(data or {}, default=str),
        )
    )


def open_or_touch(connection: Connection, values: dict, at: datetime) -> tuple[int, bool]:
    """Insert the incident unless its dedup key exists; return (id, opened_now)."""
    row = dict(values, status=OPEN, opened_at=at, updated_at=at, reports=1, step_index=0, cycle=0, level=0)
    inserted = _insert_ignoring_duplicate(connection, incidents, row, "dedup_key")
    incident_id = connection.execute(select(incidents.c.id).where(incidents.c.dedup_key == values["dedup_key"])).scalar_one()
    if not inserted:
        connection.execute(
            update(incidents).where(incidents.c.id == incident_id).values(reports=incidents.c.reports + 1, updated_at=at)
        )
    return incident_id, inserted


@dataclass
class Incident:
    id: int
    dedup_key: str
    kind: str
    pipeline_id: str
    dag_id: str
    run_id: str | None
    run_started_at: datetime | None
    task_id: str | None
    try_number: int | None
    failure_class: str
    error: str
    details: dict
    log_url: str | None
    status: str
    opened_at: datetime
    updated_at: datetime
    reports: int
    step_index: int
    cycle: int
    level: int
    next_step_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    timeline: list[dict] = field(default_factory=list)
    notifications: list[dict] = field(default_factory=list)

    @classmethod
    def from_row(cls, row) -> "Incident":
        data = dict(row._mapping)
        data["details"] = json.loads(data.get("details") or "{}")
        return cls(**data)

    def to_dict(self) -> dict:
        """JSON-ready (datetimes as ISO 8601 UTC)."""
        out = {}
        for key, value in self.__dict__.items():
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        out["timeline"] = [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in e.items()} for e in self.timeline]
        out["notifications"] = [
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in n.items()} for n in self.notifications
        ]
        return out


class DueIncident(NamedTuple):
    """The fields of an incident that firing its step reads (state, and what its page says)."""

    id: int
    pipeline_id: str
    step_index: int
    cycle: int
    level: int
    failure_class: str
    kind: str
    dag_id: str
    run_id: str | None
    task_id: str | None
    try_number: int | None
    error: str
    details: dict
    log_url: str | None
    opened_at: datetime


_DUE_COLUMNS = [incidents.c[name] for name in DueIncident._fields]


def due_incidents(connection: Connection, at: datetime, limit: int) -> list[DueIncident]:
    """Open incidents whose next step is due at `at`, oldest deadline first."""
    return _due_incidents(connection, select(*_DUE_COLUMNS).where(incidents.c.status == OPEN, incidents.c.next_step_at <= at)
                          .order_by(incidents.c.next_step_at, incidents.c.id).limit(limit))


def unresolved_without_event(connection: Connection, condition, event_kind: str) -> list[DueIncident]:
    """Unresolved incidents matching `condition` whose timeline has no `event_kind` event yet."""
    recorded = select(incident_events.c.id).where(incident_events.c.incident_id == incidents.c.id,
                                                  incident_events.c.kind == event_kind).exists()
    return _due_incidents(connection, select(*_DUE_COLUMNS).where(incidents.c.status != RESOLVED, condition, ~recorded)
                          .order_by(incidents.c.id))


def _due_incidents(connection: Connection, query) -> list[DueIncident]:
    rows = connection.execute(query)
    details_at = DueIncident._fields.index("details")
    return [
        DueIncident._make(row[:details_at] + (json.loads(row[details_at]) if row[details_at] != "{}" else {},)
                          + row[details_at + 1:])
        for row in rows
    ]


def load_incident(connection: Connection, incident_id: int, *, with_timeline: bool = False) -> Incident:
    row = connection.execute(select(incidents).where(incidents.c.id == incident_id)).first()
    if row is None:
        raise IncidentNotFound(f"no incident with id {incident_id}")
    incident = Incident.from_row(row)
    if with_timeline:
        events = connection.execute(
            select(incident_events).where(incident_events.c.incident_id == incident_id).order_by(incident_events.c.id)
        )
        for event in events:
            entry = dict(event._mapping)
            entry["data"] = json.loads(entry["data"] or "{}")
            entry.pop("incident_id")
            incident.timeline.append(entry)
        deliveries = connection.execute(
            select(
                outbox.c.id, outbox.c.recipient, outbox.c.channel, outbox.c.target, outbox.c.status, outbox.c.attempts,
                outbox.c.last_error, outbox.c.created_at, outbox.c.delivered_at,
            ).where(outbox.c.incident_id == incident_id).order_by(outbox.c.id)
        )
        incident.notifications = [dict(d._mapping) for d in deliveries]
    return incident


def query_incidents(connection: Connection, *, status: str | None = None, pipeline_id: str | None = None,
                    limit: int = 100, offset: int = 0) -> list[Incident]:
    if status is not None and status not in STATUSES + ("unresolved",):
        raise ValueError(f"status must be one of {list(STATUSES) + ['unresolved']}, not {status!r}")
    query = select(incidents).order_by(incidents.c.id.desc()).limit(limit).offset(offset)
    if status == "unresolved":
        query = query.where(incidents.c.status != RESOLVED)
    elif status:
        query = query.where(incidents.c.status == status)
    if pipeline_id:
        query = query.where(incidents.c.pipeline_id == pipeline_id)
    return [Incident.from_row(row) for row in connection.execute(query)]
