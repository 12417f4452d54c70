"""The Calendar page's swap and take buttons through Airflow's real API server app: DAG edit
rights and CSRF like acknowledge, the acting person mapped from the logged-in user, refusals as
400/403/404/409 naming field and value, and a swap accepted here is what `get_schedule_service`
(every process) answers next."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from techflow_ops.oncall import clear_schedule_cache, get_schedule_service
from techflow_ops.oncall.model import iso
from techflow_ops.oncall.service import remove_override
from techflow_ops.oncall.swaps import ineligible_because

from .conftest import bearer, csrf_from


def future_swap(weeks_ahead: int = 2) -> tuple:
    """A primary shift starting `weeks_ahead`+ weeks from now, its holder and a colleague eligible
    to take it (who holds what comes from the shipped schedule, whatever today is)."""
    clear_schedule_cache()
    service = get_schedule_service()
    now = datetime.now(timezone.utc)
    for shift in service.shifts(now + timedelta(weeks=weeks_ahead), now + timedelta(weeks=weeks_ahead + 4)):
        if shift.role != "primary" or shift.start <= now + timedelta(weeks=weeks_ahead) or shift.source == "override":
            continue
        for colleague in service.rotation.members:
            if colleague != shift.person and not ineligible_because(service.rotation, service.effective, colleague, "primary",
                                                                    shift.start, shift.end):
                return shift, colleague
    raise AssertionError("no primary shift ahead that a colleague could take")


@pytest.fixture
def undo_swaps(web_env):
    made: list[int] = []
    yield made
    for request_id in made:  # the web tests share one ops DB: leave the schedule as it was
        for suffix in ("", "-back"):
            remove_override(None, f"swap-{request_id}{suffix}", by="test cleanup")
    clear_schedule_cache()


def test_swap_request_needs_dag_edit_rights_a_person_and_csrf(api_client, tokens):
    shift, colleague = future_swap()
    body = {"role": "primary", "start": iso(shift.start), "with": colleague}
    viewer = api_client.post("/techflow/api/swaps/request", json=body, headers=bearer(tokens["viewer"]))
    assert viewer.status_code == 403 and "may not edit" in viewer.json()["detail"]
    editor = api_client.post("/techflow/api/swaps/request", json=body, headers=bearer(tokens["editor"]))
    assert editor.status_code == 403 and "is no person in people.yaml" in editor.json()["detail"]
    api_client.cookies.set("_token", tokens[shift.person])
    try:
        no_csrf = api_client.post("/techflow/calendar/swaps/request", data=body, follow_redirects=False)
        assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
    finally:
        api_client.cookies.clear()


def test_request_and_accept_through_the_api_move_the_shift_everywhere(api_client, tokens, undo_swaps):
    shift, colleague = future_swap()
    made = api_client.post("/techflow/api/swaps/request", headers=bearer(tokens[shift.person]),
                           json={"role": "primary", "start": iso(shift.start), "with": colleague, "reason": "dentist"})
    assert made.status_code == 200, made.text
    request = made.json()
    undo_swaps.append(request["id"])
    assert (request["status"], request["requester"], request["counterpart"], request["end"]) == \
        ("requested", shift.person, colleague, iso(shift.end))
    # The requester cannot accept their own request; an unknown id is a 404; a bad date a 400.
    own = api_client.post("/techflow/api/swaps/accept", headers=bearer(tokens[shift.person]), json={"id": request["id"]})
    assert own.status_code == 403 and f"by={shift.person!r}" in own.json()["detail"]
    missing = api_client.post("/techflow/api/swaps/accept", headers=bearer(tokens[colleague]), json={"id": 99999})
    assert missing.status_code == 404 and "id=99999" in missing.json()["detail"]
    bad = api_client.post("/techflow/api/swaps/request", headers=bearer(tokens[shift.person]),
                          json={"role": "primary", "start": "next tuesday"})
    assert bad.status_code == 400 and "start='next tuesday'" in bad.json()["detail"]

    accepted = api_client.post("/techflow/api/swaps/accept", headers=bearer(tokens[colleague]), json={"id": request["id"]})
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["status"], accepted.json()["in_effect"]) == ("approved", True)
    again = api_client.post("/techflow/api/swaps/accept", headers=bearer(tokens[colleague]), json={"id": request["id"]})
    assert again.status_code == 409 and "already approved" in again.json()["detail"]
    middle = shift.start + (shift.end - shift.start) / 2
    assert get_schedule_service().now(middle).primary == colleague  # this process sees it at its next lookup
    listed = api_client.get("/techflow/api/swaps", headers=bearer(tokens["viewer"])).json()["requests"]
    assert [e["action"] for e in next(r for r in listed if r["id"] == request["id"])["events"]] == \
        ["requested", "accepted", "applied"]


def test_the_calendar_form_acts_as_the_logged_in_person(api_client, tokens, undo_swaps):
    shift, colleague = future_swap(weeks_ahead=3)
    api_client.cookies.set("_token", tokens[shift.person])
    try:
        page = api_client.get(f"/techflow/calendar?start={(shift.start - timedelta(days=1)).date()}")
        assert page.status_code == 200 and 'data-testid="swaps"' in page.text
        section = page.text.split('data-testid="swaps"')[1].split("</section>")[0]
        assert f'data-start="{iso(shift.start)}"' in section, section  # their shift, with its request button
        done = api_client.post("/techflow/calendar/swaps/request", follow_redirects=False, data={
            "csrf_token": csrf_from(page.text), "role": "primary", "start": iso(shift.start), "with": "anyone"})
        assert done.status_code == 303 and "swap_message=swap+%23" in done.headers["location"]
    finally:
        api_client.cookies.clear()
    listed = api_client.get("/techflow/api/swaps?open=true", headers=bearer(tokens["viewer"])).json()["requests"]
    mine = next(r for r in listed if r["requester"] == shift.person and r["start"] == iso(shift.start))
    assert (mine["counterpart"], mine["status"]) == ("anyone", "requested")
    cancelled = api_client.post("/techflow/api/swaps/cancel", headers=bearer(tokens[shift.person]), json={"id": mine["id"]})
    assert cancelled.json()["status"] == "cancelled"


def test_the_panel_offers_each_person_only_the_buttons_they_may_use(config_copy, ops_db_url, monkeypatch):
    """With `rules.swap_approval: lead` (the lead is dana) on the shipped history: marcus holds
    primary 2027-01-11 15:00Z .. 01-18 15:00Z, sofia secondary then."""
    from tests.oncall.test_state import with_shipped_history

    from techflow_ops.oncall.service import accept_swap, request_swap
    from techflow_ops.registry import clear_registry_cache
    from techflow_ops.web.swap_views import swap_panel

    with_shipped_history(config_copy)
    oncall = config_copy / "oncall.yaml"
    oncall.write_text(oncall.read_text().replace("  no_back_to_back: true", "  no_back_to_back: true\n  swap_approval: lead"))
    monkeypatch.setenv("TECHFLOW_CONFIG_DIR", str(config_copy))
    clear_registry_cache()
    clear_schedule_cache()
    week = (datetime(2027, 1, 11, 15, tzinfo=timezone.utc), datetime(2027, 1, 18, 15, tzinfo=timezone.utc))
    request = request_swap(config_copy, by="marcus", role="primary", start=week[0], with_person="anyone")
    window = (week[0] - timedelta(days=1), week[1] + timedelta(days=1))

    def actions(person: str) -> list[str]:
        clear_schedule_cache()
        return next(r["actions"] for r in swap_panel(person, *window)["requests"] if r["id"] == request.id)

    assert (actions("marcus"), actions("priya"), actions("sofia"), actions("dana")) == (["cancel"], ["accept"], [], [])
    assert any(s["start"] == "2027-01-11T15:00:00Z" for s in swap_panel("marcus", *window)["mine"])
    assert not any(s["holder"] == "marcus" and s["role"] == "primary" for s in swap_panel("sofia", *window)["takeable"])
    accept_swap(config_copy, request.id, by="priya")
    assert (actions("marcus"), actions("priya"), actions("dana")) == (["cancel"], [], ["approve", "decline"])
    clear_registry_cache()
    clear_schedule_cache()
