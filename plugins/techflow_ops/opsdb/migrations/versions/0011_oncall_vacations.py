"""On-call vacations in the ops DB (`oncall vacation add|list|remove`, the Calendar page's form)
and the swap requests each one opened for the published shifts it hit.

Revision ID: 0011_oncall_vacations
Revises: 0010_oncall_swap_events
"""

from alembic import op

from techflow_ops.oncall.tables import oncall_vacation_swaps, oncall_vacations

revision = "0011_oncall_vacations"
down_revision = "0010_oncall_swap_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    oncall_vacations.create(bind)
    oncall_vacation_swaps.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    oncall_vacation_swaps.drop(bind)
    oncall_vacations.drop(bind)
