"""Escalation: incidents, their timeline, the notification outbox and engine state.

Revision ID: 0001_escalation
Revises:
"""

from alembic import op

from techflow_ops.opsdb.schema import engine_state, incident_events, incidents, outbox

revision = "0001_escalation"
down_revision = None
branch_labels = None
depends_on = None

# Created from the shared Table objects, as they were at this revision; later changes to
# these tables go in new revisions with explicit op.add_column/... calls.
TABLES = (incidents, incident_events, outbox, engine_state)


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
