"""Durations written the way people write them in config: `24h`, `7d`, `1w`, `90m`, `1h30m`, ISO 8601 `P1D`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_SHORT = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_ISO = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def parse_duration(value: object) -> timedelta:
    """Parse a duration; raise ValueError with an explanation for anything else."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("expected a duration such as '24h', '7d', '1w', '30m' or 'P1D'")
    if isinstance(value, int):
        raise ValueError("a bare number has no unit; write e.g. '24h' or '30m'")
    text = value.strip()
    for pattern in (_SHORT, _ISO):
        match = pattern.match(text if pattern is _ISO else text.lower())
        if match and any(match.groups()):
            weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
            result = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
            if result <= timedelta(0):
                raise ValueError("duration must be positive")
            return result
    raise ValueError("unparsable duration; write e.g. '24h', '7d', '1w', '30m', '1h30m' or ISO 8601 'P1D'")


def format_duration(delta: timedelta) -> str:
    """The short form parse_duration reads back: 90 minutes -> '1h30m'."""
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
