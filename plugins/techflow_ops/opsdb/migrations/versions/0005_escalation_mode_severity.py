"""Escalation: each incident's failure mode (routes by mode), its severity (resolution SLA,
CFO), and who it is assigned to after a reassignment.

Revision ID: 0005_escalation_mode_severity
Revises: 0004_escalation_run_started_at
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_escalation_mode_severity"
down_revision = "0004_escalation_run_started_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("failure_mode", sa.String(64)))
        batch.add_column(sa.Column("severity", sa.String(16)))
        batch.add_column(sa.Column("assigned_to", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("assigned_to")
        batch.drop_column("severity")
        batch.drop_column("failure_mode")
