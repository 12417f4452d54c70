"""Deliver one outbox row through Airflow's notification providers (SMTP, Slack, PagerDuty).

Imported lazily (only when something is sent): it pulls in Airflow and the providers.
Every sender raises on failure; the outbox records the failure and retries later.
"""

from __future__ import annotations

import html
import json
import re

_URL = re.compile(r"(https?://[^\s<>\"]+)")


def _html(body: str) -> str:
    escaped = html.escape(body)
    linked = _URL.sub(r'<a href="\1">\1</a>', escaped)
    return f'<pre style="font-family: monospace; white-space: pre-wrap">{linked}</pre>'


def rich_email(row, from_email: str | None):
    """The MIME message of a row with an HTML part: multipart/alternative of the plain text and a
    multipart/related holding the HTML with the images it shows by Content-ID (`cid:`), the
    structure mail clients display inline rather than as attachments."""
    import base64
    from email import policy
    from email.message import EmailMessage

    # Headers are not folded below RFC 5322's 998-character limit: Python folds a subject that
    # does not fit 78 characters onto a continuation line whole, which readers show with a
    # leading space.
    message = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))
    message["Subject"] = row.subject
    if from_email:
        message["From"] = from_email
    message["To"] = row.target
    message["X-TechFlow-Outbox-Id"] = str(row.id)
    message.set_content(row.body or "")
    message.add_alternative(row.html_body, subtype="html")
    html_part = message.get_payload()[1]
    for image in json.loads(getattr(row, "inline_images", None) or "[]"):
        maintype, _, subtype = image["content_type"].partition("/")
        html_part.add_related(base64.b64decode(image["data"]), maintype, subtype, cid=f"<{image['cid']}>",
                              disposition="inline", filename=image.get("filename") or f"{image['cid']}.{subtype}")
    return message


def _send_rich_email(row, from_email: str) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    # The hook's send_email_smtp builds multipart/mixed with files as attachments; the inline
    # charts need multipart/related, so the message is built here and sent on the hook's
    # logged-in client (connection, TLS and login stay the provider's). The outbox retries.
    with SmtpHook(smtp_conn_id=row.connection_id or SmtpHook.default_conn_name) as hook:
        sender = from_email or hook.from_email
        hook._smtp_client.send_message(rich_email(row, sender), from_addr=sender, to_addrs=[row.target])


def send_email(row, from_email: str) -> None:
    if getattr(row, "html_body", None):
        _send_rich_email(row, from_email)
        return
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    notifier = SmtpNotifier(
        to=row.target, from_email=from_email, subject=row.subject, html_content=_html(row.body),
        smtp_conn_id=row.connection_id,
        custom_headers={"X-TechFlow-Outbox-Id": str(row.id), "X-TechFlow-Incident": str(row.incident_id or "")},
    )
    # notify() rather than the notifier's __call__, which logs and swallows delivery errors.
    notifier.notify({})


def send_slack(row) -> None:
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    text = f"{row.target} *{row.subject}*\n```{row.body}```"
    # Slack shows URLs inside a code block as plain text: the one-click links go below it too.
    action_links = getattr(row, "action_links", None) or {}
    if action_links:
        text += "\n" + "  ·  ".join(f"<{url}|{action.capitalize()}>" for action, url in action_links.items())
    SlackWebhookNotifier(slack_webhook_conn_id=row.connection_id, text=text, timeout=10).notify({})


def send_pagerduty(row) -> None:
    from airflow.providers.pagerduty.hooks.pagerduty_events import PagerdutyEventsAsyncHook, PagerdutyEventsHook

    payload = json.loads(row.payload or "{}")
    hook = PagerdutyEventsAsyncHook(pagerduty_events_conn_id=row.connection_id)
    # The connection's host selects the Events API endpoint (https://events.eu.pagerduty.com for
    # EU accounts); without one the provider's default (US) endpoint is used.
    host = (PagerdutyEventsHook.get_connection(row.connection_id).host or "").strip().rstrip("/")
    if host:
        hook.base_url = host if "://" in host else f"https://{host}"
    hook.retry_limit = 1  # the outbox retries with its own backoff
    _run_to_completion(hook.send_event(
        summary=row.subject[:1024], severity=payload.get("severity", "error"), source=payload.get("source", "techflow-ops"),
        custom_details={"message": row.body, "outbox_id": row.id,
                        **{f"{action}_url": url for action, url in (getattr(row, "action_links", None) or {}).items()}},
        component=payload.get("component"),
        group=payload.get("group"), class_type=payload.get("class_type"), action="trigger",
        dedup_key=payload.get("dedup_key"),
    ))


def _run_to_completion(coroutine) -> None:
    """Run `coroutine` to its end from synchronous code, also when this thread already runs an
    event loop (the triggerer's deadline callbacks, a test harness): then in a thread of its own."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def deliver(row, from_email: str) -> None:
    if row.channel == "email":
        send_email(row, from_email)
    elif row.channel == "slack":
        send_slack(row)
    elif row.channel == "pagerduty":
        send_pagerduty(row)
    else:
        raise ValueError(f"outbox row {row.id}: unknown channel {row.channel!r}")
