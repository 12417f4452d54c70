"""iCal feeds parse back with `icalendar` and hold exactly the schedule's shifts."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from techflow_ops.oncall import get_schedule_service
from techflow_ops.oncall.ical import ics_for_person, ics_for_team, shift_uid

from .helpers import publish_at, set_overrides

UTC = timezone.utc
NOW = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)


def events(data: bytes) -> list:
    calendar = Calendar.from_ical(data)
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"]
    return list(calendar.walk("VEVENT"))


def as_utc(prop) -> datetime:
    value = prop.dt
    assert value.tzinfo is not None
    return value.astimezone(UTC)


@pytest.fixture
def published(config_copy):
    publish_at(config_copy, NOW)
    set_overrides(config_copy, [{"id": "swap", "person": "dana", "role": "primary", "start": "2027-03-27T20:00:00Z",
                                 "end": "2027-03-29T08:00:00Z", "reason": "covering over the Berlin DST night"}])
    return config_copy


def test_person_feed_holds_the_persons_shifts_in_their_timezone_across_dst(published):
    svc = get_schedule_service(published)
    for person, tzid in (("jonas", "Europe/Berlin"), ("priya", "America/New_York")):
        feed = events(ics_for_person(person, published))
        expected = svc.shifts_of(person)
        assert len(feed) == len(expected) > 0
        got = sorted((as_utc(e["DTSTART"]), as_utc(e["DTEND"]), str(e["UID"])) for e in feed)
        assert got == sorted((s.start, s.end, shift_uid(s)) for s in expected)
        assert all(e["DTSTART"].params["TZID"] == tzid for e in feed)
    # A 10:00 New York hand-off is 16:00 in Berlin, but 15:00 in the March weeks when the US is
    # already on summer time and Europe is not: the feed must say so in Berlin time. Which weeks
    # Jonas holds depends on the generator (issue 17 changed it), so one such week is pinned.
    set_overrides(published, [{"id": "swap", "person": "dana", "role": "primary", "start": "2027-03-27T20:00:00Z",
                               "end": "2027-03-29T08:00:00Z", "reason": "covering over the Berlin DST night"},
                              {"id": "march", "person": "jonas", "role": "secondary", "start": "2027-03-22T14:00:00Z",
                               "end": "2027-03-23T14:00:00Z", "reason": "a hand-off between the two DST changes"}])
    new_york = ZoneInfo("America/New_York")
    handoffs = [e["DTSTART"].dt for e in events(ics_for_person("jonas", published))
                if e["DTSTART"].dt.astimezone(new_york).hour == 10 and e["DTSTART"].dt.astimezone(new_york).weekday() == 0]
    assert {dt.hour for dt in handoffs} == {15, 16}
    assert all(dt.hour == 15 for dt in handoffs if datetime(2027, 3, 14, tzinfo=UTC) < dt < datetime(2027, 3, 28, tzinfo=UTC))


def test_team_feed_includes_overrides_and_uids_are_unique_and_stable(published):
    svc = get_schedule_service(published)
    feed = events(ics_for_team("data_engineering", published))
    shifts = svc.shifts(svc.covered_from, svc.covered_until)
    assert len(feed) == len(shifts)
    uids = [str(e["UID"]) for e in feed]
    assert len(set(uids)) == len(uids)
    assert any("dana" in str(e["DESCRIPTION"]) and "override" in str(e["DESCRIPTION"]) for e in feed)
    assert uids == [str(e["UID"]) for e in events(ics_for_team("data_engineering", published))]
    assert ics_for_team("data_engineering", published) == ics_for_team("data_engineering", published)


def test_unknown_person_or_team_without_rotation(published):
    with pytest.raises(KeyError, match="unknown person"):
        ics_for_person("ghost", published)
    with pytest.raises(KeyError, match="no on-call rotation"):
        ics_for_team("finance", published)
