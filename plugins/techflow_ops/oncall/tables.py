"""The ops-DB tables of the on-call schedule's state (created by the `0009_oncall_state` revision).

`oncall.yaml` stays the configuration (rotation, rules, weights, vacations); what changes while
the system runs lives here, so every process (scheduler, workers, api-server, engine) sees one
state: the published schedule with its history, overrides, swap requests and the notices sent.

The published schedule is append-only. Each publish (`oncall_publishes`) freezes everything
before its `frozen_until` and inserts only the shifts and gaps from there on; the earlier
publishes' rows at or after that instant are marked `superseded_by` it, never updated in
place otherwise nor deleted, so the schedule as published at any moment can be read back.
The current schedule is the rows with `superseded_by IS NULL`.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from ..opsdb.schema import UTCDateTime, metadata

# engine_state key whose value changes (a fresh random token) in the same transaction as every
# change to the tables below: processes compare it to decide whether their cached schedule is stale.
STATE_VERSION_KEY = "oncall_state_version"
# oncall_swap_requests.status
SWAP_STATUSES = ("requested", "accepted", "declined", "approved", "cancelled")

oncall_publishes = Table(
    "oncall_publishes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rotation", String(200), nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("frozen_until", UTCDateTime, nullable=False),  # rows before it are history: never superseded
    Column("until", UTCDateTime, nullable=False),  # the published horizon
    Column("members", Text, nullable=False, default="[]"),  # JSON: the rotation's members when published
    Column("source", String(16), nullable=False),  # publish | rolling | import
    Column("created_by", String(200)),
    Index("ix_oncall_publishes_rotation", "rotation", "id"),
)

oncall_published_shifts = Table(
    "oncall_published_shifts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("publish_id", Integer, ForeignKey("oncall_publishes.id"), nullable=False),
    Column("superseded_by", Integer, ForeignKey("oncall_publishes.id")),  # None: current
    Column("rotation", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("person", String(200), nullable=False),
    Column("start", UTCDateTime, nullable=False),
    Column("end", UTCDateTime, nullable=False),
    Column("reason", Text),
    Index("ix_oncall_published_shifts_current", "rotation", "superseded_by", "start"),
)

oncall_published_gaps = Table(
    "oncall_published_gaps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("publish_id", Integer, ForeignKey("oncall_publishes.id"), nullable=False),
    Column("superseded_by", Integer, ForeignKey("oncall_publishes.id")),
    Column("rotation", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("start", UTCDateTime, nullable=False),
    Column("end", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_oncall_published_gaps_current", "rotation", "superseded_by", "start"),
)

# Stretches a publish moved from one person to another (the people affected are told).
oncall_shift_changes = Table(
    "oncall_shift_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("publish_id", Integer, ForeignKey("oncall_publishes.id"), nullable=False),
    Column("rotation", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("start", UTCDateTime, nullable=False),
    Column("end", UTCDateTime, nullable=False),
    Column("previous", String(200)),
    Column("current", String(200)),
    Column("published_at", UTCDateTime, nullable=False),
    Index("ix_oncall_shift_changes_published", "rotation", "published_at"),
)

oncall_overrides = Table(
    "oncall_overrides",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("id", String(200), nullable=False),  # unique among the rotation's active overrides (checked on add)
    Column("rotation", String(200), nullable=False),
    Column("person", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("start", UTCDateTime, nullable=False),
    Column("end", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime),  # None: active; removed overrides stay for the audit trail
    Column("removed_by", String(200)),
    Index("ix_oncall_overrides_active", "rotation", "removed_at"),
)

# Swaps and takes (oncall/swaps.py). `counterpart`: the colleague asked (a swap) or whose shift is
# taken (a take, where `requester` is the person covering).
oncall_swap_requests = Table(
    "oncall_swap_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rotation", String(200), nullable=False),
    Column("requester", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("start", UTCDateTime, nullable=False),
    Column("end", UTCDateTime, nullable=False),
    Column("counterpart", String(200)),  # None: anyone eligible may accept
    Column("kind", String(16), nullable=False, default="swap"),  # swap | take
    Column("status", String(16), nullable=False),  # requested | accepted | declined | approved | cancelled
    Column("reason", Text),
    Column("accepted_by", String(200)),
    Column("decided_by", String(200)),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("accepted_at", UTCDateTime),
    Column("decided_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_oncall_swap_requests_status", "rotation", "status"),
)

# Which schedule change notified whom and when: one row per (change, recipient), so a change
# is announced once however many processes or ticks see it.
oncall_notices_sent = Table(
    "oncall_notices_sent",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rotation", String(200), nullable=False),
    Column("change_key", String(500), nullable=False),  # e.g. shift_change:<role>:<start>:<published_at>
    Column("recipient", String(200), nullable=False),
    Column("purpose", String(32), nullable=False),  # shift_change | handoff | swap | override
    Column("sent_at", UTCDateTime, nullable=False),  # queued to the outbox
    UniqueConstraint("change_key", "recipient", name="uq_oncall_notices_sent_change_recipient"),
)

# The swap workflow's audit trail (created by the `0010_oncall_swap_events` revision): one row per
# step of a request (requested, accepted, declined, approved, cancelled) and one per stretch it
# moved (`applied`: role, start, end, from_person -> to_person, and the override that does it).
# An `accepted` row of a swap with something given back names that stretch (from the acceptor to
# the requester), so the overrides can be made when a lead approves later.
oncall_swap_events = Table(
    "oncall_swap_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Integer, ForeignKey("oncall_swap_requests.id"), nullable=False),
    Column("rotation", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(16), nullable=False),  # requested | accepted | declined | approved | cancelled | applied
    Column("role", String(32)),
    Column("start", UTCDateTime),
    Column("end", UTCDateTime),
    Column("from_person", String(200)),
    Column("to_person", String(200)),
    Column("override_id", String(200)),
    Column("note", Text),
    Index("ix_oncall_swap_events_request", "request_id", "id"),
    Index("ix_oncall_swap_events_rotation", "rotation", "at"),
)

# Vacations entered from the CLI or the Calendar page (created by the `0011_oncall_vacations`
# revision); oncall.yaml's `vacations:` stay configuration and the schedule uses both. Whole local
# days in the person's own time zone, last day inclusive, like the YAML ones.
oncall_vacations = Table(
    "oncall_vacations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rotation", String(200), nullable=False),
    Column("person", String(200), nullable=False),
    Column("first_day", Date, nullable=False),
    Column("last_day", Date, nullable=False),
    Column("note", Text),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime),  # None: active; removed vacations stay for the audit trail
    Column("removed_by", String(200)),
    Index("ix_oncall_vacations_active", "rotation", "removed_at"),
)

# The swap requests a vacation opened for the published shifts it hit (cancelled when it is removed).
oncall_vacation_swaps = Table(
    "oncall_vacation_swaps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("vacation_id", Integer, ForeignKey("oncall_vacations.id"), nullable=False),
    Column("request_id", Integer, ForeignKey("oncall_swap_requests.id"), nullable=False),
    UniqueConstraint("vacation_id", "request_id", name="uq_oncall_vacation_swaps"),
)

TABLES = (oncall_publishes, oncall_published_shifts, oncall_published_gaps, oncall_shift_changes, oncall_overrides,
          oncall_swap_requests, oncall_notices_sent)
