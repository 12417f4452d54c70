"""Escalation: incidents, their timeline, the notification outbox and engine state.

Revision ID: 0001_escalation
Revises:
"""

from alembic import op
from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, String, Table, Text

from techflow_ops.opsdb.schema import UTCDateTime, engine_state, incident_events

revision = "0001_escalation"
down_revision = None
branch_labels = None
depends_on = None

# The outbox and incidents as they were at this revision (0003 and 0004 changed them); the
# other tables are created from the shared Table objects, unchanged since. Later changes to
# any of them go in new revisions with explicit op.add_column/... calls, and the table is
# frozen here as it was.
frozen = MetaData()
incidents = Table(
    "incidents",
    frozen,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedup_key", String(700), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("pipeline_id", String(200), nullable=False),
    Column("dag_id", String(250), nullable=False),
    Column("run_id", String(250)),
    Column("task_id", String(250)),
    Column("try_number", Integer),
    Column("failure_class", String(32), nullable=False),
    Column("error", Text, nullable=False, default=""),
    Column("details", Text, nullable=False, default="{}"),
    Column("log_url", Text),
    Column("status", String(16), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("reports", Integer, nullable=False, default=1),
    Column("step_index", Integer, nullable=False, default=0),
    Column("cycle", Integer, nullable=False, default=0),
    Column("level", Integer, nullable=False, default=0),
    Column("next_step_at", UTCDateTime),
    Column("acknowledged_by", String(200)),
    Column("acknowledged_at", UTCDateTime),
    Column("resolved_by", String(200)),
    Column("resolved_at", UTCDateTime),
    Index("ix_incidents_due", "status", "next_step_at"),
    Index("ix_incidents_task", "pipeline_id", "task_id", "status"),
)
outbox = Table(
    "outbox",
    frozen,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(700), nullable=False, unique=True),
    Column("incident_id", Integer, ForeignKey(incidents.c.id, ondelete="CASCADE")),
    Column("purpose", String(32), nullable=False),
    Column("recipient", String(200), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", String(500), nullable=False),
    Column("connection_id", String(250)),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("payload", Text, nullable=False, default="{}"),
    Column("status", String(16), nullable=False),
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
TABLES = (incidents, incident_events, outbox, engine_state)


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
