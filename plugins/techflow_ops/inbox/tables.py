"""The ops-DB table of caught messages (created by the `0007_inbox_messages` Alembic revision)."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from ..opsdb.schema import UTCDateTime, metadata

# inbox_messages.channel
CHANNELS = ("email", "slack", "pagerduty")

inbox_messages = Table(
    "inbox_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("channel", String(16), nullable=False),  # email | slack | pagerduty
    Column("to", Text, nullable=False, default=""),  # recipients, Slack channel/handle, PagerDuty routing key
    Column("subject", Text, nullable=False, default=""),
    Column("body", Text, nullable=False, default=""),  # the message as text, as a person would read it
    # No foreign key: a catcher may catch pages of an ops DB other than the one it writes to.
    Column("incident_id", Integer),
    Column("raw", Text, nullable=False, default=""),  # the whole email, or JSON {"path", "payload"} of a post
    Index("ix_inbox_messages_received", "received_at", "id"),
    Index("ix_inbox_messages_incident", "incident_id"),
)
