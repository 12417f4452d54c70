"""On-call swaps: the audit trail of each swap or take request (every step, and every stretch
it moved with the override that moved it).

Revision ID: 0010_oncall_swap_events
Revises: 0009_oncall_state
"""

from alembic import op

from techflow_ops.oncall.tables import oncall_swap_events

revision = "0010_oncall_swap_events"
down_revision = "0009_oncall_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    oncall_swap_events.create(op.get_bind())


def downgrade() -> None:
    oncall_swap_events.drop(op.get_bind())
