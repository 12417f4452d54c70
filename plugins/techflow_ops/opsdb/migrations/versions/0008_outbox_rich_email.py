"""Outbox: an email may carry an HTML body and inline images (the digests' charts) besides its
plain text. Pages leave both empty and are sent as before.

Revision ID: 0008_outbox_rich_email
Revises: 0007_inbox_messages
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_outbox_rich_email"
down_revision = "0007_inbox_messages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("html_body", sa.Text))
        batch.add_column(sa.Column("inline_images", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("inline_images")
        batch.drop_column("html_body")
