"""What a caught email, Slack post or PagerDuty event says: recipient, subject, text and the
incident it belongs to. Pure functions, no I/O.

The escalation area writes "Incident #<id>" at the head of every page (after an optional
headline), sends email with an `X-TechFlow-Incident` header and PagerDuty events with the
dedup key `techflow-incident-<id>`; Slack posts are `<target> *<subject>*` and the page in a
code block (`escalation/channels.py`).
"""

from __future__ import annotations

import email
import json
import re
from dataclasses import dataclass
from email import policy as email_policy
from html.parser import HTMLParser

INCIDENT_IN_TEXT = re.compile(r"\bIncident #(\d+)\b")
INCIDENT_DEDUP_KEY = re.compile(r"^techflow-incident-(\d+)$")
PAGERDUTY_PATHS = ("/v2/enqueue", "/v2/change/enqueue")
# `<target> *<subject>*`, the page in a code block, then maybe a line of `<url|Label>` links
_SLACK_PAGE = re.compile(r"\A(?P<to>\S+) \*(?P<subject>[^\n]*)\*\n```(?P<body>.*)```(?P<after>.*)\Z", re.DOTALL)
_SLACK_LINK = re.compile(r"<(?P<url>[^|<>]+)\|(?P<label>[^<>]+)>")


@dataclass(frozen=True)
class Caught:
    channel: str  # email | slack | pagerduty
    to: str
    subject: str
    body: str
    incident_id: int | None
    raw: str


def incident_in_text(*texts: str | None) -> int | None:
    """The first "Incident #<id>" in the texts, in order."""
    for text in texts:
        match = INCIDENT_IN_TEXT.search(text or "")
        if match:
            return int(match.group(1))
    return None


class _Text(HTMLParser):
    """An HTML part as the text a mail client shows (the pages are one escaped <pre>)."""

    BREAKS = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "table"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in self.BREAKS and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts).strip("\n")


def mail_text(message) -> str:
    """The plain-text part of a parsed message, else its HTML parts as text."""
    plain, html = [], []
    for part in message.walk():
        if part.get_content_maintype() != "text" or part.get_content_disposition() == "attachment":
            continue
        (plain if part.get_content_subtype() == "plain" else html).append(part.get_content())
    if plain:
        return "\n".join(plain).strip("\n")
    return "\n".join(html_to_text(h) if "<" in h else h for h in html)


def parse_mail(content: bytes):
    """The message (`email.message.EmailMessage`) of an SMTP DATA payload."""
    return email.message_from_bytes(content, policy=email_policy.default)


def from_email(content: bytes, recipients: list[str]) -> Caught:
    message = parse_mail(content)
    subject = str(message["subject"] or "")
    body = mail_text(message)
    header = str(message["X-TechFlow-Incident"] or "").strip()
    incident_id = int(header) if header.isdigit() else incident_in_text(body, subject)
    to = ", ".join(recipients) or str(message["to"] or "")
    return Caught("email", to, subject, body, incident_id, content.decode("utf-8", errors="replace"))


def is_pagerduty(path: str) -> bool:
    return path.split("?", 1)[0].rstrip("/").endswith(PAGERDUTY_PATHS)


def from_post(path: str, payload) -> Caught:
    """A JSON post: a PagerDuty Events v2 event (POST /v2/enqueue) or a Slack incoming webhook
    (any other path; the path names the webhook)."""
    raw = json.dumps({"path": path, "payload": payload}, sort_keys=True)
    if not isinstance(payload, dict):
        payload = {"text": json.dumps(payload)}
    if is_pagerduty(path):
        return _pagerduty(payload, raw)
    return _slack(path, payload, raw)


def _pagerduty(event: dict, raw: str) -> Caught:
    details = event.get("payload") if isinstance(event.get("payload"), dict) else {}
    custom = details.get("custom_details")
    action = str(event.get("event_action") or "trigger")
    dedup_key = str(event.get("dedup_key") or "")
    subject = str(details.get("summary") or f"{action} {dedup_key}".strip())
    if action != "trigger":
        subject = f"[{action}] {subject}"
    if isinstance(custom, dict) and isinstance(custom.get("message"), str):
        body = custom["message"]
    elif custom:
        body = custom if isinstance(custom, str) else json.dumps(custom, indent=2, sort_keys=True)
    else:
        body = json.dumps(details, indent=2, sort_keys=True) if details else ""
    facts = [f"{key}: {details[key]}" for key in ("severity", "source", "component", "group", "class") if details.get(key)]
    if isinstance(custom, dict):  # e.g. acknowledge_url / resolve_url beside the message
        facts += [f"{key}: {value}" for key, value in custom.items() if key not in ("message", "outbox_id")]
    if facts or dedup_key:
        body = (body + "\n\n" if body else "") + "\n".join([*facts, *([f"dedup_key: {dedup_key}"] if dedup_key else [])])
    match = INCIDENT_DEDUP_KEY.match(dedup_key)
    incident_id = int(match.group(1)) if match else incident_in_text(body, subject)
    return Caught("pagerduty", str(event.get("routing_key") or ""), subject, body, incident_id, raw)


def _block_text(blocks) -> str:
    texts = []
    for block in blocks if isinstance(blocks, list) else []:
        text = block.get("text") if isinstance(block, dict) else None
        if isinstance(text, dict):
            text = text.get("text")
        if isinstance(text, str):
            texts.append(text)
    return "\n".join(texts)


def _slack(path: str, payload: dict, raw: str) -> Caught:
    text = payload.get("text") if isinstance(payload.get("text"), str) else ""
    text = text or _block_text(payload.get("blocks"))
    webhook = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    page = _SLACK_PAGE.match(text)
    if page:
        to, subject, body = page.group("to"), page.group("subject"), page.group("body").strip("\n")
        after = _SLACK_LINK.sub(lambda m: f"{m.group('label')}: {m.group('url')}", page.group("after")).strip()
        if after:
            body += "\n\n" + "\n".join(part.strip() for part in after.split("  ·  "))
    else:
        to, subject, body = "", text.partition("\n")[0], text
    to = to or str(payload.get("channel") or webhook)
    return Caught("slack", to, subject, body, incident_in_text(body, subject), raw)
