"""The Calendar page's "Vacations" form through Airflow's real API server app: CSRF, DAG edit
rights and the logged-in user mapped to a person exactly like the swap buttons, and a vacation
added here shows in the month grid like oncall.yaml's (then removed here, and gone from it)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from techflow_ops.oncall import clear_schedule_cache
from techflow_ops.oncall.service import list_vacations, remove_vacation
from techflow_ops.web.security import csrf_token_for

from .conftest import csrf_from

SOFIA_TZ = ZoneInfo("America/Los_Angeles")  # people.yaml


def grid_cell(html: str, person: str, day: date) -> str:
    row = html.split(f'<tr data-person="{person}">')[1].split("</tr>")[0]
    return row.split(f'data-date="{day.isoformat()}"')[1].split("</td>")[0]


def post_as(api_client, token: str, path: str, data: dict, csrf: bool = True):
    """POST the form as the user logged in with `token` (the login cookie), with the CSRF token
    their pages carry (viewers and non-people see no form, so it is derived the same way)."""
    api_client.cookies.set("_token", token)
    try:
        if csrf:
            data = {**data, "csrf_token": csrf_token_for(token)}
        return api_client.post(path, data=data, follow_redirects=False)
    finally:
        api_client.cookies.clear()


def test_the_vacation_form_needs_csrf_dag_edit_rights_and_a_person(api_client, tokens):
    body = {"start": "2027-03-01", "end": "2027-03-02"}
    no_csrf = post_as(api_client, tokens["sofia"], "/techflow/calendar/vacations/add", body, csrf=False)
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
    viewer = post_as(api_client, tokens["viewer"], "/techflow/calendar/vacations/add", body)
    assert viewer.status_code == 403 and "may not edit" in viewer.text
    editor = post_as(api_client, tokens["editor"], "/techflow/calendar/vacations/add", body)
    assert editor.status_code == 403 and "is no person in people.yaml" in editor.text
    assert not [v for v in list_vacations() if v.id is not None and v.first_day == date(2027, 3, 1)]


def test_a_vacation_added_from_the_form_shows_in_the_month_grid_and_can_be_removed(api_client, tokens):
    first = datetime.now(SOFIA_TZ).date() + timedelta(days=70)  # well ahead, inside one month view
    last = first + timedelta(days=1)
    before = {v.id for v in list_vacations(person="sofia")}
    added_id = None
    api_client.cookies.set("_token", tokens["sofia"])
    try:
        page = api_client.get("/techflow/calendar")
    finally:
        api_client.cookies.clear()
    form = page.text.split('data-testid="vacation-add-form"')[1].split("</form>")[0]
    assert csrf_from(form) == csrf_token_for(tokens["sofia"])  # the form carries the session's CSRF token
    try:
        bad = post_as(api_client, tokens["sofia"], "/techflow/calendar/vacations/add", {"start": last.isoformat(),
                                                                                        "end": first.isoformat()})
        assert bad.status_code == 400 and f"end={first.isoformat()!r}: vacation end before its start {last.isoformat()}" in bad.text
        done = post_as(api_client, tokens["sofia"], "/techflow/calendar/vacations/add",
                       {"start": first.isoformat(), "end": last.isoformat(), "note": "web test"})
        assert done.status_code == 303 and "vacation_message=vacation+%23" in done.headers["location"], done.text
        [added] = [v for v in list_vacations(person="sofia") if v.id not in before]
        added_id = added.id
        assert (added.first_day, added.last_day, added.note, added.created_by) == (first, last, "web test", "sofia")

        clear_schedule_cache()
        api_client.cookies.set("_token", tokens["viewer"])
        try:
            page = api_client.get(f"/techflow/calendar?month={first:%Y-%m}")
        finally:
            api_client.cookies.clear()
        assert page.status_code == 200
        assert 'data-kind="vacation"' in grid_cell(page.text, "sofia", first)
        assert 'data-kind="vacation"' in grid_cell(page.text, "sofia", last)
        if last.month == (last + timedelta(days=1)).month:
            assert 'data-kind="vacation"' not in grid_cell(page.text, "sofia", last + timedelta(days=1))
        assert f'data-vacation="{added_id}"' in page.text.split('data-testid="vacations"')[1]

        other = post_as(api_client, tokens["priya"], "/techflow/calendar/vacations/remove", {"id": str(added_id)})
        assert other.status_code == 403 and "only they or the team lead" in other.text
        gone = post_as(api_client, tokens["sofia"], "/techflow/calendar/vacations/remove", {"id": str(added_id)})
        assert gone.status_code == 303 and "removed" in gone.headers["location"]
        added_id = None
        clear_schedule_cache()
        api_client.cookies.set("_token", tokens["viewer"])
        try:
            page = api_client.get(f"/techflow/calendar?month={first:%Y-%m}")
        finally:
            api_client.cookies.clear()
        assert 'data-kind="vacation"' not in grid_cell(page.text, "sofia", first)
    finally:
        if added_id is not None:  # the web tests share one ops DB
            remove_vacation(None, added_id, by="sofia")
        clear_schedule_cache()
