"""Escalation: a page's text stored once (page_messages) for all the outbox rows that send it.

An engine tick after an outage pages thousands of incidents, each to several recipients and
contacts; repeating the ~1 KB page in every outbox row made the tick write ~5x the bytes.

Revision ID: 0003_escalation_page_messages
Revises: 0002_quality_results
"""

import sqlalchemy as sa
from alembic import op

from techflow_ops.opsdb.schema import page_messages

revision = "0003_escalation_page_messages"
down_revision = "0002_quality_results"
branch_labels = None
depends_on = None


def upgrade() -> None:
    page_messages.create(op.get_bind())
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("message_key", sa.String(300)))
        batch.add_column(sa.Column("role", sa.String(200)))
        for column in ("subject", "body", "payload"):
            batch.alter_column(column, existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("role")
        batch.drop_column("message_key")
    page_messages.drop(op.get_bind())
