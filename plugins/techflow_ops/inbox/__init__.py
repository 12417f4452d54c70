"""The local inbox: on the embedded default (`make start`) a loopback catcher stands in for the
mail relay, Slack and PagerDuty, so every page the escalation engine sends can be read in the
On-call view (Inbox) and with `techflow-ops inbox list`.

    catcher.py      SMTP server (aiosmtpd) + HTTP receiver (Slack webhooks, PagerDuty Events v2)
    connections.py  the AIRFLOW_CONN_* values that point providers at loopback receivers
    messages.py     what a caught message says: to, subject, text, incident (pure)
    store.py        the only reader/writer of the `inbox_messages` table (tables.py)
    cli.py          `techflow-ops inbox serve|list`

Production does not use it: there a missing connection stays a delivery error, recorded on
the incident and retried by the outbox. Nothing in this package imports Airflow.

    list_messages(limit=100, offset=0, readable=None) -> [{id, received_at, channel, to, subject,
                                                           body, incident_id}]   newest first
    message_json(message) -> the JSON shape of the API and `inbox list --json` (+ incident_url)
"""

from __future__ import annotations


def list_messages(limit: int = 100, offset: int = 0, readable=None, *, incident_id: int | None = None,
                  channel: str | None = None) -> list[dict]:
    """Caught messages in the configured ops DB, newest first (see `store.list_messages`)."""
    from ..opsdb import get_engine
    from . import store

    return store.list_messages(get_engine(), limit=limit, offset=offset, readable=readable,
                               incident_id=incident_id, channel=channel)


def message_json(message: dict) -> dict:
    """One message as JSON types, with the On-call view address of its incident."""
    from .. import links

    incident_id = message.get("incident_id")
    received_at = message.get("received_at")
    return {
        **message,
        "received_at": received_at.isoformat() if hasattr(received_at, "isoformat") else received_at,
        "incident_url": links.incident_url(incident_id) if incident_id is not None else None,
    }
