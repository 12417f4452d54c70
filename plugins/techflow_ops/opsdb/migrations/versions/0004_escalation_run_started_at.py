"""Escalation: when the failed DAG run started, so a success auto-resolves only the incidents
of its own run or of runs that started before it (not those of a newer run that failed).

Revision ID: 0004_escalation_run_started_at
Revises: 0003_escalation_page_messages
"""

import sqlalchemy as sa
from alembic import op

from techflow_ops.opsdb.schema import UTCDateTime

revision = "0004_escalation_run_started_at"
down_revision = "0003_escalation_page_messages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("run_started_at", UTCDateTime()))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("run_started_at")
