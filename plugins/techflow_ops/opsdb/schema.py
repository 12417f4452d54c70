"""Table definitions of the ops DB (SQLAlchemy Core), shared by code and migrations.

Other areas declare their tables on the same `metadata` in their own modules and add a
migration revision (see the package docstring).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

metadata = MetaData()

# incidents.status
OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
INCIDENT_STATUSES = (OPEN, ACKNOWLEDGED, RESOLVED)
# incidents.severity of a warning's notice (the paging severities are escalation.policy.SEVERITIES)
NOTICE = "notice"
# outbox.status
PENDING, DELIVERED = "pending", "delivered"


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, stored naive-UTC so SQLite and PostgreSQL sort alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the ops DB stores aware UTC datetimes only")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedup_key", String(700), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),  # task_failure | dag_failure | deadline_miss | dq_warning
    Column("pipeline_id", String(200), nullable=False),
    Column("dag_id", String(250), nullable=False),
    Column("run_id", String(250)),
    Column("run_started_at", UTCDateTime),  # None: not known (the success of another run leaves it open)
    Column("task_id", String(250)),
    Column("try_number", Integer),
    Column("failure_class", String(32), nullable=False),
    Column("failure_mode", String(64)),  # failures.FAILURE_MODES; None (older rows): the class's value
    Column("severity", String(16)),  # critical | major | minor | notice (a warning: never pages)
    Column("assigned_to", String(200)),  # person id after a reassignment
    Column("error", Text, nullable=False, default=""),
    Column("details", Text, nullable=False, default="{}"),  # JSON
    Column("log_url", Text),
    Column("status", String(16), nullable=False),  # open | acknowledged | resolved
    Column("opened_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("reports", Integer, nullable=False, default=1),  # callbacks that reported this failure
    Column("step_index", Integer, nullable=False, default=0),  # next policy step to fire
    Column("cycle", Integer, nullable=False, default=0),  # completed passes over the policy
    Column("level", Integer, nullable=False, default=0),  # highest level paged so far
    Column("next_step_at", UTCDateTime),  # None: nothing left to fire
    Column("acknowledged_by", String(200)),
    Column("acknowledged_at", UTCDateTime),
    Column("resolved_by", String(200)),
    Column("resolved_at", UTCDateTime),
    Index("ix_incidents_due", "status", "next_step_at"),
    Index("ix_incidents_task", "pipeline_id", "task_id", "status"),
)

incident_events = Table(
    "incident_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    # opened | reported_again | notified | notification_failed | gap | escalated | repeated |
    # exhausted | acknowledged | resolved | note | error (a step could not be fired: parked)
    Column("kind", String(32), nullable=False),
    Column("actor", String(200)),
    Column("level", Integer),
    Column("message", Text, nullable=False, default=""),
    Column("data", Text, nullable=False, default="{}"),  # JSON
    Index("ix_incident_events_incident", "incident_id", "id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(700), nullable=False, unique=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE")),
    Column("purpose", String(32), nullable=False),  # page | handoff | shift_change | notice | digest
    Column("recipient", String(200), nullable=False),  # person or team id
    Column("channel", String(16), nullable=False),  # email | slack | pagerduty
    Column("target", String(500), nullable=False),
    Column("connection_id", String(250)),
    # A page's text is stored once in page_messages (message_key) for all its recipients and
    # contacts; the row adds why this recipient is paged (role). Other notices carry their own.
    Column("message_key", String(300)),
    Column("role", String(200)),
    Column("subject", Text),
    Column("body", Text),
    Column("payload", Text),  # JSON: channel-specific extras
    # An email with an HTML part (sent with `body` as its plain-text alternative) and images the
    # HTML shows inline by Content-ID: JSON [{"cid", "content_type", "data" (base64)}]. A digest
    # fills both; pages leave them NULL and their HTML is derived from the text as before.
    Column("html_body", Text),
    Column("inline_images", Text),
    Column("status", String(16), nullable=False),  # pending | delivered
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    Column("claim_token", String(64)),
    Column("last_error", Text),
    Column("delivered_at", UTCDateTime),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_incident", "incident_id"),
)

page_messages = Table(
    "page_messages",
    metadata,
    Column("key", String(300), primary_key=True),  # incident:<id>:pass:<n>:step:<n> | incident:<id>:<notice>
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),  # with a role slot the outbox row's role fills
    Column("payload", Text, nullable=False, default="{}"),  # JSON: channel-specific extras
    Column("created_at", UTCDateTime, nullable=False),
)

# Acknowledge/resolve links in pages are single-use: a link's nonce is recorded when it is used.
action_link_uses = Table(
    "action_link_uses",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("recipient", String(200), nullable=False),  # person or team id the link was for
    Column("action", String(16), nullable=False),  # acknowledge | resolve
    Column("used_at", UTCDateTime, nullable=False),
)

engine_state = Table(
    "engine_state",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
)
