"""Time on a rotation: shift slots, coverage windows, weekends, holidays, investor periods.

Every boundary is computed in the rotation's local wall-clock time and converted to UTC, so
a Monday 10:00 hand-off stays at 10:00 local across DST (the week is 167 or 169 hours long).
Intervals are half-open `(start, end)` pairs of aware UTC datetimes.

A `KindCalendar` classifies every instant into one kind of hour (business, off-hours, sleep,
weekend, holiday) in one person's own timezone and holidays; see burden.py for the definitions.
"""

from __future__ import annotations

import calendar
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from .model import KINDS, BurdenWeights, HomeCalendar, Rotation

Interval = tuple[datetime, datetime]
HOUR = 3600.0


def local_instant(day: date, clock: time | None, tz) -> datetime:
    """`clock` on `day` in `tz` as UTC; None means the end of the day (next midnight)."""
    if clock is None:
        return datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(timezone.utc)
    return datetime.combine(day, clock, tz).astimezone(timezone.utc)


def hours(intervals) -> float:
    return sum((b - a).total_seconds() for a, b in intervals) / HOUR


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Intersection of two sorted, non-overlapping interval lists."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """`a` minus `b`, both sorted and non-overlapping."""
    out = []
    j = 0
    for lo, hi in a:
        cursor = lo
        while j < len(b) and b[j][1] <= cursor:
            j += 1
        k = j
        while k < len(b) and b[k][0] < hi:
            if b[k][0] > cursor:
                out.append((cursor, b[k][0]))
            cursor = max(cursor, b[k][1])
            k += 1
        if cursor < hi:
            out.append((cursor, hi))
    return out


def merge(intervals) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


class IntervalSet:
    """Sorted, merged intervals with fast overlap measurement (bisect)."""

    def __init__(self, intervals):
        self.intervals = merge(intervals)
        self.starts = [a for a, _ in self.intervals]
        self.ends = [b for _, b in self.intervals]

    def overlap(self, lo: datetime, hi: datetime) -> list[Interval]:
        i = bisect_right(self.ends, lo)
        out = []
        while i < len(self.intervals) and self.starts[i] < hi:
            a, b = self.intervals[i]
            out.append((max(a, lo), min(b, hi)))
            i += 1
        return out

    def overlap_hours(self, lo: datetime, hi: datetime) -> float:
        return hours(self.overlap(lo, hi))

    def contains(self, at: datetime) -> bool:
        i = bisect_right(self.starts, at) - 1
        return i >= 0 and at < self.ends[i]


@dataclass(frozen=True)
class Slot:
    index: int
    start: datetime
    end: datetime
    coverage: tuple[Interval, ...]  # the parts of [start, end) someone must be on call


class Timeline:
    """The calendar of one rotation over a range of years."""

    def __init__(self, rotation: Rotation, first_year: int, last_year: int):
        self.rotation = rotation
        self.tz = rotation.tz
        self.epoch = rotation.first_handoff()
        self.epoch_local = self.epoch.astimezone(self.tz).replace(tzinfo=None)
        self.first_year, self.last_year = first_year, last_year
        # Rotations sharing a calendar (timezone, holidays, investor rule) share these sets.
        self.holiday_names, self.holidays, self.weekends, self.investor = _calendar(
            self.tz.key, rotation.holiday_country, rotation.holiday_subdivision, rotation.company_days,
            rotation.investor_business_days, first_year, last_year)
        self._homes: dict[str, KindCalendar] = {}

    def home_calendar(self, person: str) -> "KindCalendar":
        """The person's own kinds of hours and holidays; shared by everyone living in the same
        (timezone, country, subdivision), so a 1,000-person rotation builds a handful."""
        if person not in self._homes:
            rot = self.rotation
            self._homes[person] = kind_calendar(rot.home(person), rot.company_days, rot.weights,
                                                self.first_year, self.last_year)
        return self._homes[person]

    def slot_start(self, index: int) -> datetime:
        local = self.epoch_local + index * self.rotation.shift_length
        return local.replace(tzinfo=self.tz).astimezone(timezone.utc)

    def slot_index_at(self, at: datetime) -> int:
        """Index of the slot containing `at` (negative before the rotation starts)."""
        length = self.rotation.shift_length.total_seconds()
        index = int((at - self.epoch).total_seconds() // length)
        while self.slot_start(index) > at:
            index -= 1
        while self.slot_start(index + 1) <= at:
            index += 1
        return index

    def slot(self, index: int) -> Slot:
        start, end = self.slot_start(index), self.slot_start(index + 1)
        return Slot(index, start, end, tuple(self.coverage(start, end)))

    def coverage(self, lo: datetime, hi: datetime) -> list[Interval]:
        rot = self.rotation
        if rot.coverage_days is None and rot.coverage_start == time(0) and rot.coverage_end is None:
            return [(lo, hi)] if lo < hi else []
        days = rot.coverage_days if rot.coverage_days is not None else frozenset(range(7))
        out = []
        day = lo.astimezone(self.tz).date() - timedelta(days=1)
        last = hi.astimezone(self.tz).date()
        while day <= last:
            if day.weekday() in days:
                a = max(lo, local_instant(day, rot.coverage_start, self.tz))
                b = min(hi, local_instant(day, rot.coverage_end, self.tz))
                if a < b:
                    out.append((a, b))
            day += timedelta(days=1)
        return merge(out)

    def in_coverage(self, at: datetime) -> bool:
        return bool(self.coverage(at, at + timedelta(seconds=1)))


def _day(day: date, tz) -> Interval:
    return local_instant(day, time(0), tz), local_instant(day, None, tz)


def investor_period(year: int, month: int, business_days: int, holiday_dates, tz) -> Interval:
    """From the first of the month's last N business days to the end of the month."""
    last = date(year, month, calendar.monthrange(year, month)[1])
    day, found = last, 0
    while True:
        if day.weekday() < 5 and day not in holiday_dates:
            found += 1
            if found == business_days:
                break
        day -= timedelta(days=1)
    return local_instant(day, time(0), tz), local_instant(last, None, tz)


@lru_cache(maxsize=32)
def _calendar(tz_key: str, country, subdivision, company_days, business_days: int, first_year: int, last_year: int):
    tz = ZoneInfo(tz_key)
    names = _holiday_names(country, subdivision, company_days, first_year, last_year)
    first = date(first_year, 1, 1)
    days = (first + timedelta(days=n) for n in range((date(last_year, 12, 31) - first).days + 1))
    weekends = IntervalSet(_day(d, tz) for d in days if d.weekday() >= 5)
    investor = IntervalSet(
        investor_period(year, month, business_days, names, tz)
        for year in range(first_year, last_year + 1) for month in range(1, 13)
    ) if business_days else IntervalSet([])
    return names, IntervalSet(_day(d, tz) for d in names), weekends, investor


@lru_cache(maxsize=64)
def _country_holidays(country: str, subdivision: str | None, years: tuple[int, ...]) -> dict[date, str]:
    import holidays

    return dict(holidays.country_holidays(country, subdiv=subdivision, years=years))


def holiday_names(rotation: Rotation, first_year: int, last_year: int) -> dict[date, str]:
    """Public holidays and company days of the rotation's calendar, date -> name."""
    return _holiday_names(rotation.holiday_country, rotation.holiday_subdivision, rotation.company_days,
                          first_year, last_year)


def _holiday_names(country, subdivision, company_days, first_year: int, last_year: int) -> dict[date, str]:
    names: dict[date, str] = {}
    if country:
        names.update(_country_holidays(country, subdivision, tuple(range(first_year, last_year + 1))))
    for day, name in company_days:
        names[day] = f"{names[day]}; {name}" if day in names else name
    return names


def vacation_sets(rotation: Rotation) -> dict[str, IntervalSet]:
    return {person: IntervalSet(rotation.vacations.get(person, ())) for person in rotation.members}



def minute_of_day(clock: time | None) -> int:
    return 1440 if clock is None else clock.hour * 60 + clock.minute


def in_band(minute: int, start: int, end: int) -> bool:
    return start <= minute < end if start < end else (minute >= start or minute < end)


def _weekday_template(weights: BurdenWeights) -> tuple[tuple[int, int], ...]:
    """A plain weekday as (minute of day, kind index) pieces: sleep wins over business, and
    whatever is neither is off-hours."""
    business = minute_of_day(weights.business_start), minute_of_day(weights.business_end)
    sleep = minute_of_day(weights.sleep_start), minute_of_day(weights.sleep_end)
    cuts = sorted({0, *business, *sleep} - {1440})
    pieces: list[tuple[int, int]] = []
    for minute in cuts:
        kind = KINDS.index("sleep") if in_band(minute, *sleep) else \
            KINDS.index("business") if in_band(minute, *business) else KINDS.index("off_hours")
        if not pieces or pieces[-1][1] != kind:
            pieces.append((minute, kind))
    return tuple(pieces)


class KindCalendar:
    """One home's kinds of hours over whole years. Per kind, its pieces and the hours of that
    kind before each: the hours of each kind in any interval cost a few bisections, however long
    the interval."""

    def __init__(self, home: HomeCalendar, company_days, weights: BurdenWeights, first_year: int, last_year: int):
        tz = ZoneInfo(home.timezone)
        self.home = home
        self.names = _holiday_names(home.country, home.subdivision, company_days, first_year, last_year)
        self.holidays = IntervalSet(_day(d, tz) for d in self.names)
        weekday = _weekday_template(weights)
        holiday, weekend = KINDS.index("holiday"), KINDS.index("weekend")
        bounds: list[float] = []
        kinds: list[int] = []
        day, last = date(first_year, 1, 1), date(last_year, 12, 31)
        while day <= last:
            pieces = ((0, holiday),) if day in self.names else ((0, weekend),) if day.weekday() >= 5 else weekday
            # Local wall time -> UTC with the day's offset; only a DST day needs each instant's own.
            midnight = (day.toordinal() - _EPOCH_ORDINAL) * 86400
            offset = tz.utcoffset(datetime(day.year, day.month, day.day))
            steady = offset == tz.utcoffset(datetime(day.year, day.month, day.day, 23, 59))
            for minute, kind in pieces:
                if kinds and kinds[-1] == kind:
                    continue
                if steady:
                    at = midnight + minute * 60 - offset.total_seconds()
                else:
                    at = datetime.combine(day, time(minute // 60, minute % 60), tz).timestamp()
                if bounds and at <= bounds[-1]:  # a band edge inside a DST gap: the earlier piece is empty
                    bounds.pop()
                    kinds.pop()
                    if kinds and kinds[-1] == kind:
                        continue
                bounds.append(at)
                kinds.append(kind)
            day += timedelta(days=1)
        bounds.append(datetime.combine(last + timedelta(days=1), time(0), tz).timestamp())
        self.first, self.last = bounds[0], bounds[-1]
        self.starts: list[list[float]] = [[] for _ in KINDS]
        self.ends: list[list[float]] = [[] for _ in KINDS]
        self.before: list[list[float]] = [[] for _ in KINDS]  # seconds of the kind before each piece
        totals = [0.0] * len(KINDS)
        for i, kind in enumerate(kinds):
            self.starts[kind].append(bounds[i])
            self.ends[kind].append(bounds[i + 1])
            self.before[kind].append(totals[kind])
            totals[kind] += bounds[i + 1] - bounds[i]

    def _seconds_before(self, kind: int, t: float) -> float:
        starts = self.starts[kind]
        i = bisect_right(starts, t) - 1
        if i < 0:
            return 0.0
        return self.before[kind][i] + min(t, self.ends[kind][i]) - starts[i]

    def kind_hours(self, intervals: Iterable[Interval]) -> list[float]:
        """Hours of each kind (in `KINDS` order) in the given intervals."""
        out = [0.0] * len(KINDS)
        for lo, hi in intervals:
            a, b = lo.timestamp(), hi.timestamp()
            if a < self.first or b > self.last:
                raise ValueError(f"{lo.isoformat()}..{hi.isoformat()} is outside this calendar "
                                 f"({datetime.fromtimestamp(self.first, timezone.utc).year}.."
                                 f"{datetime.fromtimestamp(self.last, timezone.utc).year - 1}); build a longer Timeline")
            for k in range(len(KINDS)):
                out[k] += (self._seconds_before(k, b) - self._seconds_before(k, a)) / HOUR
        return out

    def holiday_name(self, at: datetime) -> str | None:
        return self.names.get(at.astimezone(ZoneInfo(self.home.timezone)).date())


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@lru_cache(maxsize=128)
def kind_calendar(home: HomeCalendar, company_days, weights: BurdenWeights, first_year: int, last_year: int) -> KindCalendar:
    return KindCalendar(home, company_days, weights, first_year, last_year)
