"""Airflow connections that point the notification providers at loopback receivers: the local
inbox (`make start`) and the tests' receivers build them here.

An SMTP connection is `conn_type smtp` on 127.0.0.1 without TLS; a Slack webhook connection has
the receiver as host and `slack/<conn_id>` as password (the provider posts to host + "/" +
password, so the path names the webhook); a PagerDuty Events connection has the receiver as
host (the events endpoint the outbox uses, `/v2/enqueue`) and `routing-key-<conn_id>` as key.
"""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
FROM_EMAIL = "techflow-ops@techflow.example.com"
# escalation.yaml's `notifications` defaults: contacts without a connection_id use these.
DEFAULT_CONNECTIONS = {"smtp_default": "email", "slack_default": "slack", "pagerduty_default": "pagerduty"}


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def env_name(conn_id: str) -> str:
    """The environment variable Airflow reads connection `conn_id` from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def smtp_connection(port: int, host: str = LOOPBACK, *, from_email: str = FROM_EMAIL, timeout: int = 5) -> str:
    # retry_limit 0: the outbox retries with its own backoff.
    extra = {"disable_tls": True, "disable_ssl": True, "retry_limit": 0, "timeout": timeout, "from_email": from_email}
    return json.dumps({"conn_type": "smtp", "host": host, "port": port, "extra": extra})


def slack_connection(base_url: str, conn_id: str) -> str:
    return json.dumps({"conn_type": "slackwebhook", "host": base_url, "password": f"slack/{conn_id}"})


def pagerduty_connection(base_url: str, conn_id: str) -> str:
    return json.dumps({"conn_type": "pagerduty_events", "host": base_url, "password": f"routing-key-{conn_id}"})


def configured_connections(config_dir: Path | str | None = None) -> dict[str, str]:
    """Every notification connection the config uses, conn_id -> channel: the `notifications`
    defaults of escalation.yaml and each `connection_id` in people's and teams' contacts."""
    found = dict(DEFAULT_CONNECTIONS)
    try:
        from ..escalation.policy import load_policy
        from ..registry import get_registry

        registry = get_registry(config_dir)
        notifications = load_policy(config_dir, registry).notifications
    except Exception as exc:  # noqa: BLE001 - a broken config still gets the default connections
        log.warning("inbox: config not readable (%s); catching the default connections only", exc)
        return found
    found.update({notifications.smtp_conn_id: "email", notifications.slack_conn_id: "slack",
                  notifications.pagerduty_conn_id: "pagerduty"})
    for holder in [*registry.people.values(), *registry.teams.values()]:
        for method in holder.contact:
            if method.connection_id:
                found[method.connection_id] = method.type
    return dict(sorted(found.items()))


def connection_env(smtp_port: int, http_url: str, connections: dict[str, str], *, host: str = LOOPBACK) -> dict[str, str]:
    """AIRFLOW_CONN_* values sending every connection in `connections` (conn_id -> channel) to
    the SMTP server on `smtp_port` and the HTTP receiver at `http_url`."""
    build = {
        "email": lambda conn_id: smtp_connection(smtp_port, host),
        "slack": lambda conn_id: slack_connection(http_url, conn_id),
        "pagerduty": lambda conn_id: pagerduty_connection(http_url, conn_id),
    }
    return {env_name(conn_id): build[channel](conn_id) for conn_id, channel in connections.items()}
