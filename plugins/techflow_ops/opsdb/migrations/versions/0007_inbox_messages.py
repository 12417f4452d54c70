"""Inbox: every email, Slack post and PagerDuty event the local catcher (`techflow-ops inbox
serve`, started by `make start`) caught, with the incident it belongs to.

Revision ID: 0007_inbox_messages
Revises: 0006_escalation_action_links
"""

from alembic import op

from techflow_ops.inbox.tables import inbox_messages

revision = "0007_inbox_messages"
down_revision = "0006_escalation_action_links"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inbox_messages.create(op.get_bind())


def downgrade() -> None:
    inbox_messages.drop(op.get_bind())
