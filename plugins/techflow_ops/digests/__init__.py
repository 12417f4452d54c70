"""Daily, weekly and monthly digests: composed from the KPIs, sent through the escalation's
outbox and providers (README "Digests").

    run(kind, at=None, *, send=False, when_due=False, inputs=None) -> DigestRun
        kind: daily | weekly | monthly. `when_due`: do nothing unless the digest is due on
        `at`'s local day (the DAG's mode). `inputs`: a `DigestInputs` to use instead of
        loading from the real sources (tests, the screenshots).

`compose` (pure), `schedule` (due days, periods, recipients, pure), `send` (the outbox) and
`load` (the real sources) are the layers; this module only wires them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from .compose import KINDS, Digest, DigestInputs


@dataclass
class DigestRun:
    kind: str
    at: datetime
    not_due: str | None = None  # why nothing was made (`when_due` and not the digest's day)
    digests: list[Digest] = field(default_factory=list)
    sent: dict | None = None  # SendReport.to_dict() when sent

    def to_dict(self) -> dict:
        return {"kind": self.kind, "at": self.at.isoformat(), "not_due": self.not_due,
                "digests": [d.to_json() for d in self.digests], "sent": self.sent}


def _context(config_dir=None):
    from ..escalation.policy import get_policy
    from ..oncall.config import load_oncall_config
    from ..registry import get_registry

    registry = get_registry(config_dir)
    return registry, load_oncall_config(registry.config_dir, registry), get_policy(registry.config_dir)


def run(kind: str, at: datetime | None = None, *, send: bool = False, when_due: bool = False,
        inputs: DigestInputs | None = None, config_dir=None, engine=None) -> DigestRun:
    if kind not in KINDS:
        raise ValueError(f"digest kind must be one of {list(KINDS)}, not {kind!r}")
    at = (at or datetime.now(timezone.utc))
    if at.tzinfo is None:
        raise ValueError(f"--at {at.isoformat()} has no time zone")
    # A plain datetime in UTC: Airflow hands tasks pendulum DateTimes, whose arithmetic with a
    # stdlib tzinfo (the outbox's lease) yields naive values the ops DB refuses.
    utc = at.astimezone(timezone.utc)
    at = datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=timezone.utc)
    from ..oncall.timeline import holiday_names
    from . import schedule
    from .compose import compose

    registry, oncall_config, policy = _context(config_dir)
    rotation = oncall_config.rotation
    today = at.astimezone(rotation.tz).date()
    result = DigestRun(kind, at)
    if when_due:
        result.not_due = schedule.due(kind, today, holiday_names(rotation, today.year, today.year))
        if result.not_due:
            return result
    notifications = policy.notifications
    audiences = schedule.audiences(kind, registry, cfo=policy.management.cfo, smtp_conn_id=notifications.smtp_conn_id)
    if inputs is None:
        from .load import load_inputs

        inputs = load_inputs(kind, at, registry=registry, oncall_config=oncall_config, engine=engine)
    result.digests = compose(inputs, audiences, registry)
    if send:
        from ..escalation.outbox import Backoff
        from ..opsdb import get_engine
        from .send import send as send_digests

        retry = notifications.delivery_backoff
        result.sent = send_digests(engine or get_engine(), result.digests, at, from_email=notifications.from_email,
                                   smtp_conn_id=notifications.smtp_conn_id, backoff=Backoff(retry.first, retry.max),
                                   wall_clock=datetime.now(timezone.utc)).to_dict()
    return result


__all__ = ["KINDS", "Digest", "DigestInputs", "DigestRun", "run"]
