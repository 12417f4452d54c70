"""On-call schedule state: the published schedule and its history, overrides, swap requests and
the notices sent, plus the state version row processes compare to invalidate their cached schedule.

Revision ID: 0009_oncall_state
Revises: 0008_outbox_rich_email
"""

import uuid

from alembic import op

from techflow_ops.oncall.tables import STATE_VERSION_KEY, TABLES
from techflow_ops.opsdb.schema import engine_state

revision = "0009_oncall_state"
down_revision = "0008_outbox_rich_email"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)
    # The row exists from the start, so writers only ever UPDATE it (no insert race between them).
    bind.execute(engine_state.delete().where(engine_state.c.key == STATE_VERSION_KEY))
    bind.execute(engine_state.insert().values(key=STATE_VERSION_KEY, value=uuid.uuid4().hex))


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(engine_state.delete().where(engine_state.c.key == STATE_VERSION_KEY))
    for table in reversed(TABLES):
        table.drop(bind)
