"""Escalation: acknowledge/resolve links in pages are single-use; the nonce of a used link is
recorded here.

Revision ID: 0006_escalation_action_links
Revises: 0005_escalation_mode_severity
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_escalation_action_links"
down_revision = "0005_escalation_mode_severity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_link_uses",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("used_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("action_link_uses")
