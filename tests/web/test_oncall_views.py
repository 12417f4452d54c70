"""On-call, calendar and feed endpoints agree with the on-call schedule service."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from techflow_ops.oncall import get_schedule_service
from techflow_ops.registry import get_registry

from .conftest import bearer


def test_now_names_who_the_schedule_says(api_client, tokens):
    service = get_schedule_service()
    registry = get_registry()
    today = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    for at in (today, today + timedelta(days=9, hours=5), today + timedelta(days=40)):
        expected = service.now(at)
        body = api_client.get("/techflow/api/oncall/now", params={"at": at.isoformat()}, headers=bearer(tokens["viewer"])).json()
        assert body["primary"]["id"] == expected.primary
        assert body["primary"]["name"] == registry.people[expected.primary].name
        assert body["secondary"]["id"] == expected.secondary
        assert body["in_investor_period"] == expected.in_investor_period
        assert [p["id"] for p in body["investor_watch"]] == ([expected.investor_watch] if expected.investor_watch else [])
        assert body["primary"]["contact"], "contact links for the primary"


def test_oncall_page_shows_the_current_primary(api_client, tokens):
    expected = get_schedule_service().now(datetime.now(timezone.utc))
    html = api_client.get("/techflow/oncall", headers=bearer(tokens["viewer"])).text
    primary = get_registry().people[expected.primary].name
    assert f'data-person-id="{expected.primary}">{primary}<' in html


US_FIXED_HOLIDAYS = ((1, 1, "New Year"), (6, 19, "Juneteenth"), (7, 4, "Independence"), (11, 11, "Veterans"), (12, 25, "Christmas"))


def _next_fixed_holiday(today: date) -> tuple[date, str]:
    candidates = [
        (date(year, month, day), name)
        for year in (today.year, today.year + 1)
        for month, day, name in US_FIXED_HOLIDAYS
        if date(year, month, day) > today + timedelta(days=3)
    ]
    return min(candidates)


def test_calendar_marks_holidays_investor_period_and_holders(api_client, tokens):
    holiday, holiday_name = _next_fixed_holiday(datetime.now(timezone.utc).date())
    start = holiday - timedelta(days=3)
    body = api_client.get("/techflow/api/calendar", params={"start": start.isoformat(), "weeks": 6}, headers=bearer(tokens["viewer"])).json()
    days = {d["date"]: d for d in body["days"]}
    assert len(days) == 42
    assert holiday_name in (days[holiday.isoformat()]["holiday"] or "")
    assert any(d["investor_period"] for d in body["days"]) and not all(d["investor_period"] for d in body["days"])
    service = get_schedule_service()
    for offset in (0, 10, 20):
        day = start + timedelta(days=offset)
        noon = datetime(day.year, day.month, day.day, 17, tzinfo=timezone.utc)
        primary_then = service.now(noon).primary
        assert primary_then in [h["person"] for h in days[day.isoformat()]["roles"]["primary"]], day
    html = api_client.get("/techflow/calendar", params={"start": start.isoformat()}, headers=bearer(tokens["viewer"])).text
    assert f'data-date="{holiday.isoformat()}"' in html and holiday_name in html


def test_calendar_rejects_a_silly_range(api_client, tokens):
    response = api_client.get("/techflow/api/calendar", params={"weeks": 0}, headers=bearer(tokens["viewer"]))
    assert response.status_code == 422
    assert api_client.get("/techflow/api/calendar", params={"start": "yesterday"}, headers=bearer(tokens["viewer"])).status_code == 422


def test_next_handoff_is_after_now(api_client, tokens):
    at = datetime.now(timezone.utc) + timedelta(days=20)
    body = api_client.get("/techflow/api/oncall/now", params={"at": at.isoformat()}, headers=bearer(tokens["viewer"])).json()
    handoff = datetime.fromisoformat(body["next_handoff"])
    assert at < handoff <= at + timedelta(weeks=1)
