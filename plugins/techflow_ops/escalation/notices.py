"""Shift notices from the on-call schedule: hand-offs (to the people coming on and going off)
and published shifts that moved (to the people affected)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import store
from .policy import Recipient


@dataclass(frozen=True)
class Notice:
    key: str  # idempotency key prefix: the same notice is never queued twice
    purpose: str  # handoff | shift_change | swap
    recipient: Recipient
    subject: str
    body: str


def queue_email(connection, notice: Notice, smtp_conn_id: str, at: datetime) -> int:
    """Queue `notice` to the outbox for each of its recipient's email addresses (notices are not
    pages: email only); the key makes a second queueing of the same notice a no-op. Rows queued."""
    added = 0
    for method in notice.recipient.contacts:
        if method.type != "email":
            continue
        added += store.enqueue(connection, store.OutboxRow(
            f"{notice.key}:{notice.recipient.id}:{method.target}", None, notice.purpose, notice.recipient.id, "email",
            method.target, method.connection_id or smtp_conn_id, subject=notice.subject, body=notice.body, payload="{}",
        ), at)
    return added


def person_recipient(registry, person_id: str, role: str) -> Recipient | None:
    person = registry.people.get(person_id)
    if person is None:
        return None
    return Recipient(person.id, "person", person.name, tuple(person.contact_methods()), role)


def handoff_notices(schedule, registry, since: datetime, until: datetime) -> list[Notice]:
    notices: list[Notice] = []
    if until <= since:
        return notices
    for handoff in schedule.handoffs(since, until):
        if not (since <= handoff.at < until):
            continue
        on = registry.people.get(handoff.on).name if handoff.on in registry.people else (handoff.on or "nobody")
        off = registry.people.get(handoff.off).name if handoff.off in registry.people else (handoff.off or "nobody")
        body = (
            f"On-call hand-off at {handoff.at.isoformat()} ({handoff.role}): {off} hands over to {on}.\n"
            "Review open incidents: techflow-ops incidents list --status unresolved"
        )
        for person_id, direction in ((handoff.on, "coming on"), (handoff.off, "going off")):
            recipient = person_recipient(registry, person_id, f"{handoff.role} {direction}") if person_id else None
            if recipient is None:
                continue
            notices.append(Notice(
                key=f"handoff:{handoff.role}:{handoff.at.isoformat()}", purpose="handoff", recipient=recipient,
                subject=f"[TechFlow on-call] You are {direction} as {handoff.role} at {handoff.at.isoformat()}",
                body=body,
            ))
    if hasattr(schedule, "changes_since"):
        # (since, until]: changes_since is strictly after `since`, and a publish at the tick's own
        # instant (the engine's rolling publish) is announced by that tick.
        for change in schedule.changes_since(since):
            if not (since < change.published_at <= until):
                continue
            for person_id in change.affected:
                recipient = person_recipient(registry, person_id, f"{change.role} shift change")
                if recipient is None:
                    continue
                previous = change.previous or "nobody"
                current = change.current or "nobody"
                notices.append(Notice(
                    key=f"shift_change:{change.role}:{change.start.isoformat()}:{change.published_at.isoformat()}",
                    purpose="shift_change", recipient=recipient,
                    subject=f"[TechFlow on-call] Your {change.role} shift {change.start.date()} moved",
                    body=(f"The published {change.role} shift {change.start.isoformat()} - {change.end.isoformat()} "
                          f"changed from {previous} to {current} (published {change.published_at.isoformat()})."),
                ))
    return notices
