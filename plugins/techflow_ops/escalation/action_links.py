"""Signed, single-purpose, expiring links in pages: acknowledge or resolve one incident, as one
recipient, without logging in.

A link is `/techflow/act/<incident>/<recipient>/<action>?t=<token>`. The token is an
itsdangerous `URLSafeTimedSerializer` signature (HMAC-SHA256, keyed by
`settings.link_signing_key()`, salted per action) of the claims {incident, recipient, action,
nonce} and the instant it was signed; the claims must match the path. Opening a link changes
nothing (link-preview bots open them too): the web page asks for a POST. The nonce makes a link
single-use: the escalation store records it when the action is done (`store.use_action_link`).

Pure: no database, no Airflow. `verify` raises `LinkRefused` with one of `REASONS`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeTimedSerializer

from .. import links, settings

ACKNOWLEDGE, RESOLVE = "acknowledge", "resolve"
ACTIONS = (ACKNOWLEDGE, RESOLVE)
SALT = "techflow-ops.action-link."  # + the action: a token signed for one purpose opens no other
PATH = "act"  # under the plugin prefix

# Why a link is refused (LinkRefused.reason).
MISSING, TAMPERED, EXPIRED = "missing", "tampered", "expired"
WRONG_INCIDENT, WRONG_RECIPIENT, WRONG_ACTION = "wrong incident", "wrong recipient", "wrong action"
REASONS = (MISSING, TAMPERED, EXPIRED, WRONG_INCIDENT, WRONG_RECIPIENT, WRONG_ACTION)


class LinkRefused(Exception):
    """The link cannot be used; `reason` is one of REASONS."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class LinkClaims:
    incident_id: int
    recipient: str
    action: str
    nonce: str
    signed_at: datetime


def _serializer(action: str, key: str | None = None) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key or settings.link_signing_key(), salt=SALT + action,
                                  signer_kwargs={"digest_method": hashlib.sha256})


def new_nonce() -> str:
    return secrets.token_urlsafe(12)


def path_of(incident_id: int, recipient_id: str, action: str) -> str:
    """The link's path under the plugin prefix (what the web app routes)."""
    return f"{PATH}/{int(incident_id)}/{quote(recipient_id, safe='')}/{quote(action, safe='')}"


def make_token(incident_id: int, recipient_id: str, action: str, nonce: str, *, key: str | None = None) -> str:
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
    claims = {"i": int(incident_id), "r": recipient_id, "a": action, "n": nonce}
    return _serializer(action, key).dumps(claims)


def make_link(incident_id: int, recipient_id: str, action: str, nonce: str | None = None, *, key: str | None = None) -> str:
    """The absolute URL a page carries for `recipient_id` to do `action` on the incident."""
    token = make_token(incident_id, recipient_id, action, nonce or new_nonce(), key=key)
    return f"{links.plugin_url(path_of(incident_id, recipient_id, action))}?t={token}"


def links_for(incident_id: int, recipient_id: str) -> dict[str, str]:
    """Fresh acknowledge and resolve links (each with its own nonce) for one recipient."""
    key = settings.link_signing_key()
    return {action: make_link(incident_id, recipient_id, action, key=key) for action in ACTIONS}


def verify(incident_id: int, recipient_id: str, action: str, token: str | None, *,
           max_age: timedelta | None = None, now: datetime | None = None, key: str | None = None) -> LinkClaims:
    """The claims of a link opened at `incident_id/recipient_id/action` with `token`, or
    LinkRefused: no token, a bad signature (changed, or signed with another key), older than
    `max_age` (default `settings.link_max_age()`), or claims for another incident, recipient
    or action than the path names. Used or not is the store's business."""
    if not token:
        raise LinkRefused(MISSING, "the link carries no token")
    key = key or settings.link_signing_key()
    if action not in ACTIONS:
        raise LinkRefused(WRONG_ACTION, f"no such action {action!r}")
    try:
        claims, signed_at = _serializer(action, key).loads(token, return_timestamp=True)
    except BadSignature:
        # A genuine token of the other action pasted under this one's path: say so.
        for other in ACTIONS:
            if other != action:
                try:
                    _serializer(other, key).loads(token)
                except BadSignature:
                    continue
                raise LinkRefused(WRONG_ACTION, f"the token is for {other}, not {action}") from None
        raise LinkRefused(TAMPERED, "the signature does not match (the link was changed, or the key rotated)") from None
    if not isinstance(claims, dict) or set(claims) != {"i", "r", "a", "n"}:
        raise LinkRefused(TAMPERED, "unexpected claims")
    now = now or datetime.now(timezone.utc)
    max_age = max_age if max_age is not None else settings.link_max_age()
    signed_at = signed_at.astimezone(timezone.utc)
    if now - signed_at > max_age:
        raise LinkRefused(EXPIRED, f"signed {signed_at.isoformat()}, valid for {max_age}")
    if claims["i"] != int(incident_id):
        raise LinkRefused(WRONG_INCIDENT, "the token is for another incident")
    if claims["r"] != recipient_id:
        raise LinkRefused(WRONG_RECIPIENT, "the token is for another recipient")
    if claims["a"] != action:
        raise LinkRefused(WRONG_ACTION, f"the token is for {claims['a']}, not {action}")
    return LinkClaims(claims["i"], claims["r"], claims["a"], claims["n"], signed_at)
