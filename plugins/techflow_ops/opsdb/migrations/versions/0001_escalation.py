"""Escalation: incidents, their timeline, the notification outbox and engine state.

Revision ID: 0001_escalation
Revises:
"""

from alembic import op
from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, String, Table, Text

from techflow_ops.opsdb.schema import UTCDateTime, engine_state, incident_events, incidents

revision = "0001_escalation"
down_revision = None
branch_labels = None
depends_on = None

# The outbox as it was at this revision (0003 changed it); the other tables are created from
# the shared Table objects, unchanged since. Later changes to any of them go in new revisions
# with explicit op.add_column/... calls, and the table is frozen here as it was.
outbox = Table(
    "outbox",
    MetaData(),
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
