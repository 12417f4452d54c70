"""On-call burden: what an hour on call costs the person who holds it, in their own calendar.

Definitions (issue 17), every hour measured in the holder's own timezone (people.yaml `timezone`):

- **Kind of hour.** Each on-call hour is exactly one kind, the first that applies:
  1. `holiday`: the local date is a public holiday of the person's `country`/`subdivision`
     (people.yaml, from the `holidays` library) or a company day (oncall.yaml
     `holidays.company_days`, which count for everyone);
  2. `weekend`: local Saturday or Sunday;
  3. `sleep`: local 22:00-08:00 (oncall.yaml `fairness.sleep_hours`);
  4. `business`: local 08:00-18:00 (`fairness.business_hours`; PagerDuty's windows, as the KPIs use);
  5. `off_hours`: any other weekday hour (by default 18:00-22:00).
  So a Saturday night on Christmas Day is one holiday hour, never a weekend or sleep hour too.
- **Investor hours** are the hours inside the investor-report period (the last N business days of
  each month in the rotation's calendar, the same instant for everyone). They are a component of
  their own, counted on top of the hour's kind.
- **Weighted burden** = sum over kinds of `weight(kind) x hours of that kind`
  + `weight(investor) x investor hours`, the weights from oncall.yaml `fairness.weights`.

`Measure` gives these components for a person's intervals; the generator balances each of them
and the burden (scheduler.py), and the fairness report prints them (fairness.py).
"""

from __future__ import annotations

from .model import KINDS, Rotation
from .timeline import HOUR, Interval, Timeline, in_band, minute_of_day

# One measurement, in this order: total hours, hours of each kind, investor hours, weighted burden.
COMPONENTS = ("hours", *KINDS, "investor", "burden")
HOURS, INVESTOR, BURDEN = 0, len(KINDS) + 1, len(KINDS) + 2


class Measure:
    """Per-person burden components of intervals (see the module docstring)."""

    def __init__(self, timeline: Timeline):
        self.timeline = timeline
        weights = timeline.rotation.weights
        self.kind_weights = weights.of_kinds()
        self.investor_weight = weights.investor

    def __call__(self, intervals: list[Interval], person: str) -> tuple[float, ...]:
        by_kind = self.timeline.home_calendar(person).kind_hours(intervals)
        investor = sum(self.timeline.investor.overlap_hours(a, b) for a, b in intervals)
        total = sum((b - a).total_seconds() for a, b in intervals) / HOUR
        burden = sum(w * h for w, h in zip(self.kind_weights, by_kind)) + self.investor_weight * investor
        return (total, *by_kind, investor, burden)


def nominal_kind_hours(rotation: Rotation) -> dict[str, float]:
    """Hours of each kind in a typical shift without holidays: the shift's covered hours spread
    over an average week, sampled every 15 minutes in the rotation's timezone (a whole week holds
    every local hour of the week once, in any timezone, so this is everyone's mix for weekly shifts)."""
    weights = rotation.weights
    business = minute_of_day(weights.business_start), minute_of_day(weights.business_end)
    sleep = minute_of_day(weights.sleep_start), minute_of_day(weights.sleep_end)
    days = rotation.coverage_days if rotation.coverage_days is not None else frozenset(range(7))
    lo, hi = minute_of_day(rotation.coverage_start), minute_of_day(rotation.coverage_end)
    counts = dict.fromkeys(KINDS, 0)
    for day in days:
        for minute in range(lo, hi, 15):
            kind = "weekend" if day >= 5 else "sleep" if in_band(minute, *sleep) else \
                "business" if in_band(minute, *business) else "off_hours"
            counts[kind] += 1
    week_hours = rotation.shift_length.total_seconds() / HOUR / (7 * 24)  # shifts are this many weeks long
    return {kind: count / 4 * week_hours for kind, count in counts.items()}


def nominal_shift_burden(rotation: Rotation) -> float:
    """The weighted burden of a typical shift (no holiday, no investor period): the fairness unit
    for the burden, independent of any date range."""
    mix = nominal_kind_hours(rotation)
    return max(sum(getattr(rotation.weights, kind) * hours for kind, hours in mix.items()), 1.0)
