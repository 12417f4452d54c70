"""The incident store: the one module that reads and writes the incidents, their timeline,
the outbox and the escalation state in the ops DB (SQLAlchemy Core). Every function takes a
connection (or, for the outbox's retried writes, the engine) so the caller decides what one
transaction holds.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import NamedTuple

from sqlalchemy import Connection, Engine, String, and_, cast, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from ..opsdb.schema import (
    ACKNOWLEDGED,
    DELIVERED,
    INCIDENT_STATUSES,
    OPEN,
    PENDING,
    RESOLVED,
    UTCDateTime,
    action_link_uses,
    engine_state,
    incident_events,
    incidents,
    outbox,
    page_messages,
)

STATUSES = INCIDENT_STATUSES


def _warm_for_forks() -> None:
    """Do now, once, what a task process's first page would otherwise pay for (tens of ms each,
    benchmarks/bench_real_failure_latency.py): compute the SQLAlchemy cache key of every column
    type of these tables (memoized on the module-level type objects, ~0.5 ms) and, for a
    PostgreSQL ops DB, import its SQLAlchemy dialect and psycopg2. A process that imports the
    store before it forks task processes (the preloaded LocalExecutor and Celery workers) hands
    both to all of them. No connection is opened."""
    try:
        for table in (action_link_uses, engine_state, incident_events, incidents, outbox, page_messages):
            for column in table.c:
                column.type._static_cache_key  # noqa: B018 - a memoized property: reading it fills it
        from .. import settings

        url = settings.ops_db_url()
        if url.startswith("postgresql"):
            from sqlalchemy.engine import make_url

            make_url(url).get_dialect().import_dbapi()
    except Exception:  # noqa: BLE001 - only a head start: the engine loads what it needs itself
        pass


_warm_for_forks()
NOTICE_KIND = "dq_warning"  # a failed warning check: told, never paged
RECORD_ATTEMPTS = 4  # transactions recording a delivery outcome, 0.1 + 0.2 + 0.4 s apart
RECORD_RETRY_SLEEP = 0.1


class IncidentNotFound(LookupError):
    pass


class IncidentStateError(ValueError):
    """The requested change does not apply to the incident's current status."""


class ActionLinkUsed(Exception):
    """An acknowledge/resolve link from a page was used already (each is single-use)."""


class OutboxRow(NamedTuple):
    """A notification to queue. A page names its shared text by `message_key` and adds the
    recipient's `role`; any other notice carries its own subject and body."""

    idempotency_key: str
    incident_id: int | None
    purpose: str  # page | handoff | shift_change | notice | digest
    recipient: str
    channel: str  # email | slack | pagerduty
    target: str
    connection_id: str | None
    message_key: str | None = None
    role: str | None = None
    subject: str | None = None
    body: str | None = None
    payload: str | None = None  # JSON
    html_body: str | None = None  # an email's HTML part; `body` is then its plain-text alternative
    inline_images: str | None = None  # JSON [{"cid", "content_type", "data" (base64)}] the HTML shows


PAGE_ROW_FIELDS = OutboxRow._fields[:OutboxRow._fields.index("role") + 1]  # a page's row: no text of its own


class PageMessage(NamedTuple):
    """A page's text, stored once for all the outbox rows that name its key."""

    key: str
    incident_id: int
    subject: str
    body: str
    payload: str  # JSON


def dedup_key(pipeline_id: str, dag_id: str, run_id: str | None, task_id: str | None, kind: str) -> str:
    """One open incident per failure: the task of a run, or the run itself for DAG failures and
    deadline misses (freed when the incident is resolved, see `_resolved_values`)."""
    return "|".join([pipeline_id, dag_id, run_id or "-", task_id or "-", kind if task_id is None else "task"])


def _resolved_values(user: str, at: datetime) -> dict:
    """The UPDATE values that resolve an incident. They also free its dedup key (suffixed with
    the incident id, so it stays unique): the same failure reported after the resolution, e.g.
    the task cleared and failing again in the same run, opens a new incident that pages, with
    its own outbox idempotency keys, instead of a `reported_again` on a closed one."""
    return {
        "status": RESOLVED, "resolved_by": user, "resolved_at": at, "next_step_at": None, "updated_at": at,
        "dedup_key": incidents.c.dedup_key + "#resolved-" + cast(incidents.c.id, String),
    }


def _dialect_insert(connection: Connection):
    dialect = connection.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        raise RuntimeError(f"ops DB dialect {dialect!r} is not supported (use SQLite or PostgreSQL)")
    return dialect_insert


def _insert_ignoring_duplicate(connection: Connection, table, values: dict, conflict_column: str) -> bool:
    """Insert unless a row with the same unique `conflict_column` exists; True when inserted."""
    statement = _dialect_insert(connection)(table).values(**values).on_conflict_do_nothing(index_elements=[conflict_column])
    return connection.execute(statement).rowcount == 1


def _outbox_values(row: OutboxRow, at: datetime) -> dict:
    return dict(row._asdict(), status=PENDING, attempts=0, created_at=at, next_attempt_at=at)


class Writes:
    """Timeline events, outbox rows and step updates of one transaction at one instant, written
    set-wise: an engine tick after an outage may fire thousands of steps at once. Rows go with
    one executemany per table (the instant converted once, not per row), and incidents that move
    to the same step state are updated with one UPDATE ... WHERE id IN (...)."""

    EVENT_COLUMNS = ("incident_id", "kind", "message", "actor", "level", "data")
    ID_CHUNK = 5000  # ids per IN (...): under SQLite's 32,766 bound variables

    def __init__(self, at: datetime):
        self.at = at
        self.events: list[tuple] = []
        self.messages: list[PageMessage] = []
        self.outbox: list[OutboxRow] = []
        self.steps: dict[tuple, list[int]] = {}
        self.claims: dict[int, tuple[datetime, str]] = {}  # incident id -> (claimed until, token) of its new rows

    def claim_new_rows(self, incident_id: int, until: datetime) -> str:
        """Insert `incident_id`'s rows leased until `until` to the random token returned (read them
        back with `claimed_rows`): the transaction that queues a new incident's first page claims
        it without an UPDATE of its own."""
        token = secrets.token_hex(16)
        self.claims[incident_id] = (until, token)
        return token

    def event(self, incident_id: int, kind: str, message: str = "", *, actor: str | None = None,
              level: int | None = None, data: dict | str | None = None) -> None:
        """`data` may be JSON already: one step's event data is serialised once for all its incidents."""
        data = data if isinstance(data, str) else json.dumps(data or {}, default=str)
        self.events.append((incident_id, kind, message, actor, level, data))

    def step(self, incident_ids: list[int], *, step_index: int, cycle: int, level: int,
             next_step_at: datetime | None) -> None:
        self.steps.setdefault((step_index, cycle, level, next_step_at), []).extend(incident_ids)

    def message(self, message: PageMessage) -> None:
        self.messages.append(message)

    def notification(self, row: OutboxRow) -> None:
        """Queue a page's `row` (its text is the PageMessage its message_key names); a row whose
        idempotency key exists already is skipped."""
        self.outbox.append(row)

    def flush(self, connection: Connection) -> dict[str, list[dict]] | None:
        """Write everything queued. On PostgreSQL (psycopg2), when rows are claimed, every write
        and the read-back of the claimed rows go in one round trip, and the claimed rows are
        returned by token (what `claimed_rows` would read); otherwise None."""
        if self.claims and connection.dialect.driver == "psycopg2":
            return self._flush_in_one_round_trip(connection)
        self._flush(connection)
        return None

    def _flush(self, connection: Connection) -> None:
        at = _bind_value(connection, incident_events.c.at, self.at)
        if self.events:
            _insert_many(connection, incident_events, self.EVENT_COLUMNS + ("at",), [e + (at,) for e in self.events])
        if self.messages:
            _insert_many(connection, page_messages, PageMessage._fields + ("created_at",),
                         [m + (at,) for m in self.messages], ignore_conflict_on="key")
        if self.outbox:
            claims = {incident_id: (_bind_value(connection, outbox.c.claimed_until, until), token, 1)
                      for incident_id, (until, token) in self.claims.items()}
            unclaimed = (None, None, 0)
            _insert_many(connection, outbox, PAGE_ROW_FIELDS + ("status", "created_at", "next_attempt_at", "claimed_until",
                                                                "claim_token", "attempts"),
                         [r[:len(PAGE_ROW_FIELDS)] + (PENDING, at, at) + claims.get(r.incident_id, unclaimed)
                          for r in self.outbox],
                         ignore_conflict_on="idempotency_key")
        for (step_index, cycle, level, next_step_at), ids in self.steps.items():
            for start in range(0, len(ids), self.ID_CHUNK):
                connection.execute(
                    update(incidents).where(incidents.c.id.in_(ids[start:start + self.ID_CHUNK]))
                    .values(step_index=step_index, cycle=cycle, level=level, next_step_at=next_step_at, updated_at=self.at)
                )
        self.events, self.messages, self.outbox, self.steps, self.claims = [], [], [], {}, {}

    def _flush_in_one_round_trip(self, connection: Connection) -> dict[str, list[dict]]:
        """The writes of `_flush` and the claimed rows' SELECT as one multi-statement execute:
        a failing task's first page waits on one round trip to the ops DB instead of five.
        psycopg2 interpolates parameters on the client anyway (`mogrify` is what `execute` sends)."""
        cursor = connection.connection.driver_connection.cursor()
        try:
            def row_sql(row: tuple) -> str:
                return cursor.mogrify("(" + ", ".join(["%s"] * len(row)) + ")", row).decode()

            at = _bind_value(connection, incident_events.c.at, self.at)
            statements = []
            if self.events:
                statements.append(f"INSERT INTO {incident_events.name} ({', '.join(self.EVENT_COLUMNS + ('at',))}) VALUES "
                                  + ", ".join(row_sql(e + (at,)) for e in self.events))
            if self.messages:
                statements.append(f"INSERT INTO {page_messages.name} ({', '.join(PageMessage._fields + ('created_at',))}) "
                                  "VALUES " + ", ".join(row_sql(m + (at,)) for m in self.messages)
                                  + " ON CONFLICT (key) DO NOTHING")
            claims = {incident_id: (_bind_value(connection, outbox.c.claimed_until, until), token, 1)
                      for incident_id, (until, token) in self.claims.items()}
            columns = PAGE_ROW_FIELDS + ("status", "created_at", "next_attempt_at", "claimed_until", "claim_token", "attempts")
            if self.outbox:
                statements.append(f"INSERT INTO {outbox.name} ({', '.join(columns)}) VALUES "
                                  + ", ".join(row_sql(r[:len(PAGE_ROW_FIELDS)] + (PENDING, at, at)
                                                      + claims.get(r.incident_id, (None, None, 0))) for r in self.outbox)
                                  + " ON CONFLICT (idempotency_key) DO NOTHING")
            updated_at = _bind_value(connection, incidents.c.updated_at, self.at)
            for (step_index, cycle, level, next_step_at), ids in self.steps.items():
                next_step_at = _bind_value(connection, incidents.c.next_step_at, next_step_at)
                statements.append(cursor.mogrify(
                    f"UPDATE {incidents.name} SET step_index = %s, cycle = %s, level = %s, next_step_at = %s, updated_at = %s"
                    " WHERE id IN %s", (step_index, cycle, level, next_step_at, updated_at, tuple(ids))).decode())
            tokens = tuple(token for _, token in self.claims.values())
            statements.append(cursor.mogrify(
                f"SELECT {outbox.name}.*, m.subject AS message_subject, m.body AS message_body, m.payload AS message_payload"
                f" FROM {outbox.name} LEFT OUTER JOIN {page_messages.name} AS m ON m.key = {outbox.name}.message_key"
                f" WHERE {outbox.name}.claim_token IN %s ORDER BY {outbox.name}.next_attempt_at, {outbox.name}.id",
                (tokens,)).decode())
            cursor.execute(";\n".join(statements))
            names = [column.name for column in cursor.description]
            rows = [dict(zip(names, values)) for values in cursor.fetchall()]
        finally:
            cursor.close()
        aware = [name for name in names if name in outbox.c and isinstance(outbox.c[name].type, UTCDateTime)]
        claimed: dict[str, list[dict]] = {token: [] for token in tokens}
        for row in rows:
            for name in aware:
                if row[name] is not None:
                    row[name] = row[name].replace(tzinfo=timezone.utc)
            claimed[row["claim_token"]].append(row)
        self.events, self.messages, self.outbox, self.steps, self.claims = [], [], [], {}, {}
        return claimed


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


# --- incidents -----------------------------------------------------------------------------


def add_event(connection: Connection, incident_id: int, at: datetime, kind: str, message: str = "", *,
              actor: str | None = None, level: int | None = None, data: dict | None = None) -> None:
    connection.execute(
        insert(incident_events).values(
            incident_id=incident_id, at=at, kind=kind, message=message, actor=actor, level=level,
            data=json.dumps(data or {}, default=str),
        )
    )


def touch_report_tables(connection: Connection) -> None:
    """Read nothing from the tables a failure report writes, so the connection's server has them
    ready (their catalog entries, on PostgreSQL; the parsed schema, on SQLite) before a failure."""
    connection.exec_driver_sql(f"SELECT 1 FROM {incidents.name}, {incident_events.name}, {page_messages.name}, "
                               f"{outbox.name} WHERE 1 = 0").all()


def open_or_touch(connection: Connection, values: dict, at: datetime) -> tuple[int, bool]:
    """Insert the incident unless its dedup key exists; return (id, opened_now)."""
    row = dict(values, status=OPEN, opened_at=at, updated_at=at, reports=1, step_index=0, cycle=0, level=0)
    statement = (_dialect_insert(connection)(incidents).values(**row)
                 .on_conflict_do_nothing(index_elements=["dedup_key"]).returning(incidents.c.id))
    incident_id = connection.execute(statement).scalar()
    inserted = incident_id is not None
    if not inserted:
        incident_id = connection.execute(select(incidents.c.id).where(incidents.c.dedup_key == values["dedup_key"])).scalar_one()
        connection.execute(
            update(incidents).where(incidents.c.id == incident_id).values(reports=incidents.c.reports + 1, updated_at=at)
        )
    return incident_id, inserted


def unresolved_by_dedup_key(connection: Connection, key: str) -> "Incident | None":
    """The unresolved incident holding `key` (resolving one frees its key), or None."""
    row = connection.execute(select(incidents).where(incidents.c.dedup_key == key,
                                                     incidents.c.status != RESOLVED)).first()
    return Incident.from_row(row) if row is not None else None


def task_incidents_of_run(connection: Connection, dag_id: str, run_id: str | None) -> list[int]:
    return list(connection.execute(
        select(incidents.c.id).where(incidents.c.dag_id == dag_id, incidents.c.run_id == run_id,
                                     incidents.c.kind == "task_failure").order_by(incidents.c.id)
    ).scalars())


def incidents_of_run(connection: Connection, dag_id: str, run_id: str, *, task_id: str | None = None) -> list["Incident"]:
    """The incidents a DAG run opened that page (warning notices never do), oldest first; of
    one task of it when `task_id` is given. Lineage events name them."""
    query = select(incidents).where(incidents.c.dag_id == dag_id, incidents.c.run_id == run_id,
                                    incidents.c.kind != NOTICE_KIND).order_by(incidents.c.id)
    if task_id is not None:
        query = query.where(incidents.c.task_id == task_id)
    return [Incident.from_row(row) for row in connection.execute(query)]


def acknowledge(connection: Connection, incident_id: int, user: str, at: datetime) -> None:
    """Stop escalation of an open incident."""
    incident = load_incident(connection, incident_id)
    if incident.status != OPEN:
        raise IncidentStateError(f"incident {incident_id} is {incident.status}, not open: nothing to acknowledge")
    connection.execute(
        update(incidents).where(incidents.c.id == incident_id)
        .values(status=ACKNOWLEDGED, acknowledged_by=user, acknowledged_at=at, next_step_at=None, updated_at=at)
    )


def assign(connection: Connection, incident_id: int, person_id: str, at: datetime) -> None:
    incident = load_incident(connection, incident_id)
    if incident.status == RESOLVED:
        raise IncidentStateError(f"incident {incident_id} is resolved: nothing to reassign")
    connection.execute(update(incidents).where(incidents.c.id == incident_id).values(assigned_to=person_id, updated_at=at))


def resolve(connection: Connection, incident_id: int, user: str, at: datetime) -> None:
    incident = load_incident(connection, incident_id)
    if incident.status == RESOLVED:
        raise IncidentStateError(f"incident {incident_id} is already resolved (by {incident.resolved_by})")
    connection.execute(update(incidents).where(incidents.c.id == incident_id).values(**_resolved_values(user, at)))


def resolve_succeeded(connection: Connection, *, dag_id: str, task_id: str | None, run_id: str | None,
                      run_started_at: datetime | None, at: datetime) -> list[int]:
    """Resolve (as "auto") the unresolved incidents a success of this task (task_id None: of this
    DAG run) proves fixed: those of the same run, or of runs that started before it; return
    their ids. A backfill or an older run finishing later proves nothing about a newer run's
    failure, so with `run_started_at` unknown only the same run's."""
    same_or_earlier_run = incidents.c.run_id == run_id
    if run_started_at is not None:
        same_or_earlier_run = or_(same_or_earlier_run, incidents.c.run_started_at < run_started_at)
    condition = and_(incidents.c.dag_id == dag_id, incidents.c.status != RESOLVED, incidents.c.opened_at <= at,
                     incidents.c.kind != NOTICE_KIND,
                     same_or_earlier_run,
                     incidents.c.task_id == task_id if task_id else incidents.c.task_id.is_(None))
    ids = list(connection.execute(select(incidents.c.id).where(condition)).scalars())
    if ids:
        connection.execute(update(incidents).where(incidents.c.id.in_(ids)).values(**_resolved_values("auto", at)))
    return ids


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
    failure_mode: str | None
    severity: str | None
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
    assigned_to: str | None = None
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
    failure_mode: str | None
    severity: str | None
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


def opened_incident(incident_id: int, values: dict, at: datetime) -> DueIncident:
    """The incident `open_or_touch(connection, values, at)` just inserted, as `due_incidents` would
    read it back (no query: its step state is the first one)."""
    fields = dict(values, id=incident_id, step_index=0, cycle=0, level=0, opened_at=at,
                  details=json.loads(values.get("details") or "{}"))
    return DueIncident(**{name: fields.get(name) for name in DueIncident._fields})


def due_incidents(connection: Connection, at: datetime, limit: int) -> list[DueIncident]:
    """Open incidents whose next step is due at `at`, oldest deadline first."""
    return _due_incidents(connection, select(*_DUE_COLUMNS).where(incidents.c.status == OPEN, incidents.c.next_step_at <= at)
                          .order_by(incidents.c.next_step_at, incidents.c.id).limit(limit))


@dataclass(frozen=True)
class ResolutionDeadline:
    """A pipeline's incidents are late when opened at or before `opened_by`; critical ones when
    opened at or before `critical_opened_by`; with `month_start`, any opened before it (a month
    that has ended)."""

    pipeline_id: str
    opened_by: datetime
    critical_opened_by: datetime | None = None
    month_start: datetime | None = None


def past_resolution_deadline(connection: Connection, deadlines: list[ResolutionDeadline],
                             event_kind: str) -> list[DueIncident]:
    """Unresolved incidents past their pipeline's deadline whose timeline has no `event_kind` yet;
    notices (warnings) have no deadline."""
    if not deadlines:
        return []
    late = []
    for deadline in deadlines:
        opened_late = incidents.c.opened_at <= deadline.opened_by
        if deadline.critical_opened_by is not None and deadline.critical_opened_by > deadline.opened_by:
            opened_late = or_(opened_late, and_(incidents.c.severity == "critical",
                                                incidents.c.opened_at <= deadline.critical_opened_by))
        if deadline.month_start is not None:
            opened_late = or_(opened_late, incidents.c.opened_at < deadline.month_start)
        late.append(and_(incidents.c.pipeline_id == deadline.pipeline_id, opened_late))
    recorded = select(incident_events.c.id).where(incident_events.c.incident_id == incidents.c.id,
                                                  incident_events.c.kind == event_kind).exists()
    return _due_incidents(connection, select(*_DUE_COLUMNS).where(
        incidents.c.status != RESOLVED, incidents.c.kind != NOTICE_KIND, or_(*late), ~recorded).order_by(incidents.c.id))


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


# --- single-use action links ----------------------------------------------------------------


def use_action_link(connection: Connection, nonce: str, *, incident_id: int, recipient: str, action: str,
                    at: datetime) -> bool:
    """Record that the link with `nonce` was used; False (nothing written) when it was already."""
    return _insert_ignoring_duplicate(connection, action_link_uses, {
        "nonce": nonce, "incident_id": incident_id, "recipient": recipient, "action": action, "used_at": at,
    }, "nonce")


def action_link_used(connection: Connection, nonce: str) -> bool:
    return connection.execute(select(action_link_uses.c.nonce).where(action_link_uses.c.nonce == nonce)).first() is not None


# --- escalation state (key/value) ---------------------------------------------------------


def get_state(connection: Connection, key: str) -> str | None:
    return connection.execute(select(engine_state.c.value).where(engine_state.c.key == key)).scalar()


def set_state(connection: Connection, key: str, value: str) -> None:
    if connection.execute(update(engine_state).where(engine_state.c.key == key).values(value=value)).rowcount == 0:
        connection.execute(engine_state.insert().values(key=key, value=value))


# --- leases (an engine_state row "<expiry ISO UTC> <random token>") -------------------------


def lease_expiry(value: str) -> datetime:
    """When the lease `value` ends (a value that does not parse has ended: it can be taken)."""
    try:
        expiry = datetime.fromisoformat(value.split(" ", 1)[0])
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return expiry if expiry.tzinfo is not None else expiry.replace(tzinfo=timezone.utc)


def acquire_lease(connection: Connection, key: str, now: datetime, lease: timedelta) -> str | None:
    """Take the lease `key` until `now + lease` (`now`: the wall clock) unless another holder's
    has not ended; return the value that marks it ours (for `release_lease`), else None.

    A compare-and-set, so two processes never both get it: a missing row is inserted (when a
    concurrent insert won, the unique key raises IntegrityError: not acquired; inside a
    savepoint, so the caller's transaction stays usable), an ended one (released, or its holder
    crashed) is replaced by UPDATE ... WHERE value = <the ended value read>, which matches no
    row when another process replaced it meanwhile (PostgreSQL re-checks the WHERE on the row
    a concurrent UPDATE committed; SQLite's BEGIN IMMEDIATE serialises the whole transaction).
    Comparing the exact value read, not the instants as strings in SQL, keeps the database's
    collation out of it."""
    value = f"{(now + lease).astimezone(timezone.utc).isoformat()} {secrets.token_hex(16)}"
    current = get_state(connection, key)
    if current is None:
        try:
            with connection.begin_nested():
                connection.execute(engine_state.insert().values(key=key, value=value))
        except IntegrityError:
            return None
        return value
    if lease_expiry(current) > now:
        return None
    replaced = connection.execute(
        update(engine_state).where(engine_state.c.key == key, engine_state.c.value == current).values(value=value)
    ).rowcount
    return value if replaced == 1 else None


def release_lease(connection: Connection, key: str, value: str) -> bool:
    """End the lease `key` if it is still the one `value` marks (one that expired and was taken
    over by another process stays theirs); True when released."""
    return connection.execute(
        delete(engine_state).where(engine_state.c.key == key, engine_state.c.value == value)
    ).rowcount == 1


# --- the outbox ----------------------------------------------------------------------------


def enqueue(connection: Connection, row: OutboxRow, at: datetime) -> bool:
    """Queue one notification unless one with the same idempotency key exists; True when added."""
    return _insert_ignoring_duplicate(connection, outbox, _outbox_values(row, at), "idempotency_key")


def due_outbox_ids(connection: Connection, at: datetime, *, incident_id: int | None, limit: int) -> list[int]:
    query = (
        select(outbox.c.id)
        .where(outbox.c.status == PENDING, outbox.c.next_attempt_at <= at)
        .where(or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < at))
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(limit)
    )
    if incident_id is not None:
        query = query.where(outbox.c.incident_id == incident_id)
    return list(connection.execute(query).scalars())


def _claimed_rows(connection: Connection, *where):
    return connection.execute(
        select(outbox, page_messages.c.subject.label("message_subject"), page_messages.c.body.label("message_body"),
               page_messages.c.payload.label("message_payload"))
        .select_from(outbox.outerjoin(page_messages, page_messages.c.key == outbox.c.message_key))
        .where(*where).order_by(outbox.c.next_attempt_at, outbox.c.id)
    )


def with_text(fields: dict, fill: Callable[[str, dict], dict]) -> SimpleNamespace:
    """A claimed row (its columns and its page message's, as `_claimed_rows` reads them) with the
    text it sends: its own, or its page's completed by `fill` (see `claim`)."""
    fields = dict(fields)
    subject, body, payload = fields.pop("message_subject"), fields.pop("message_body"), fields.pop("message_payload")
    if fields["message_key"] is not None:
        if body is None:
            raise LookupError(f"outbox row {fields['id']}: page message {fields['message_key']!r} is missing")
        fields.update(subject=subject, payload=payload)
        fields.update(fill(body, fields))
    return SimpleNamespace(**fields)


def claimed_rows(connection: Connection, token: str) -> list[dict]:
    """The rows leased to `token` (`Writes.claim_new_rows`): their columns and their page
    message's, for `with_text`."""
    return [dict(row._mapping) for row in _claimed_rows(connection, outbox.c.claim_token == token)]


def release_claims(connection: Connection, row_ids: list[int], token: str) -> None:
    """Give back claims (made with `token`) of rows no attempt was made for: due again at once."""
    connection.execute(
        update(outbox).where(outbox.c.id.in_(row_ids), outbox.c.claim_token == token, outbox.c.status == PENDING)
        .values(claimed_until=None, claim_token=None, attempts=outbox.c.attempts - 1)
    )


def claim(connection: Connection, row_id: int, now: datetime, lease: timedelta,
          fill: Callable[[str, dict], dict]) -> tuple[SimpleNamespace | None, str | None]:
    """Lease a pending row (a random token marks the claim) and return it with the text it sends:
    its own, or its page's completed by `fill(body, fields)` (the row's fields; it returns the
    fields to update: the filled `body`, and extras the channels read, e.g. `action_links`);
    (None, None) when another process holds it or it was delivered meanwhile."""
    token = secrets.token_hex(16)
    claimed = connection.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.status == PENDING)
        .where(or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now))
        .values(claimed_until=now + lease, claim_token=token, attempts=outbox.c.attempts + 1)
    ).rowcount
    if not claimed:
        return None, None
    row = _claimed_rows(connection, outbox.c.id == row_id).first()
    return with_text(row._mapping, fill), token


def record_retried(engine: Engine, write: Callable[[Connection], None]) -> None:
    """Run `write(connection)` in a transaction, retried on a transient database error (a locked
    SQLite file, a dropped PostgreSQL connection), so a delivered row is not sent again for want
    of its mark."""
    for attempt in range(RECORD_ATTEMPTS):
        try:
            with engine.begin() as connection:
                write(connection)
            return
        except OperationalError:
            if attempt == RECORD_ATTEMPTS - 1:
                raise
            time.sleep(RECORD_RETRY_SLEEP * 2 ** attempt)


def mark_failed(connection: Connection, row, token: str, at: datetime, error: str, retry_at: datetime) -> None:
    """Release the claim of a failed attempt and schedule its retry."""
    connection.execute(
        update(outbox).where(and_(outbox.c.id == row.id, outbox.c.claim_token == token))
        .values(claimed_until=None, claim_token=None, last_error=error, next_attempt_at=retry_at)
    )
    if row.incident_id is not None:
        add_event(connection, row.incident_id, at, "notification_failed",
                  f"{row.channel} to {row.recipient} ({row.target}) failed (attempt {row.attempts}): {error}; "
                  f"retry at {retry_at.isoformat()}",
                  data={"outbox_id": row.id, "attempt": row.attempts, "retry_at": retry_at})


def mark_delivered(connection: Connection, row, token: str, at: datetime) -> None:
    connection.execute(
        update(outbox).where(and_(outbox.c.id == row.id, outbox.c.claim_token == token))
        .values(status=DELIVERED, delivered_at=at, claimed_until=None, last_error=None)
    )
    if row.incident_id is not None:
        add_event(connection, row.incident_id, at, "notified",
                  f"{row.channel} to {row.recipient} ({row.target}) delivered"
                  + (f" after {row.attempts} attempts" if row.attempts > 1 else ""),
                  data={"outbox_id": row.id, "attempt": row.attempts})


def postpone(connection: Connection, row_id: int, error: str, retry_after: Callable[[int], datetime]) -> None:
    """Keep a row whose attempt raised from being retried at once (its claim, if any, stands)."""
    attempts = connection.execute(select(outbox.c.attempts).where(outbox.c.id == row_id)).scalar() or 0
    connection.execute(
        update(outbox).where(outbox.c.id == row_id, outbox.c.status == PENDING)
        .values(last_error=error, next_attempt_at=retry_after(max(attempts, 1)))
    )
