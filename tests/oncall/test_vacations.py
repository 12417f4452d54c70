"""Vacations in the ops DB (issue 17 part 4): add/list/remove from the Python API and the CLI, the
refusals (exit 2 naming flag and value), a vacation on a published shift opening a swap request
to the next eligible person in rotation order instead of regenerating, removal cancelling it, and
the generator skipping a DB vacation on the next publish (SQLite, and once on PostgreSQL).

The shipped published history (tests/oncall/test_swaps.py) fixes who holds what:
  primary marcus 2027-01-11 15:00Z .. 01-18 15:00Z, secondary sofia; rotation order priya, marcus,
  sofia, jonas. marcus lives in America/Chicago (UTC-6 in January), so his vacation of 13-14
  January is 2027-01-13 06:00Z .. 2027-01-15 06:00Z.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from techflow_ops.oncall.service import (
    accept_swap,
    add_vacation,
    list_swaps,
    list_vacations,
    load_schedule_service,
    publish_schedule,
    remove_vacation,
)
from techflow_ops.oncall.swaps import SwapError
from techflow_ops.registry import clear_registry_cache

from .test_state import with_shipped_history
from .test_swaps import NOW, cli, primary_at, refused, swap_notices, utc

MARCUS_AWAY = (utc(2027, 1, 13, 6), utc(2027, 1, 15, 6))  # 13-14 January, whole days in Chicago


@pytest.fixture
def config(config_copy):
    with_shipped_history(config_copy)
    clear_registry_cache()
    return config_copy


def add_marcus(config, **kwargs):
    return add_vacation(config, person="marcus", first_day=date(2027, 1, 13), last_day=date(2027, 1, 14), note="wedding",
                        at=NOW, **kwargs)


def check_vacation_opens_a_swap_to_the_next_in_rotation(config) -> None:
    added = add_marcus(config)
    assert (added.vacation.person, added.vacation.first_day, added.vacation.last_day) == ("marcus", date(2027, 1, 13),
                                                                                         date(2027, 1, 14))
    # After marcus comes sofia, but she holds secondary that week: the next, jonas, is asked.
    [request] = added.requests
    assert (request.requester, request.counterpart, request.role, request.status) == ("marcus", "jonas", "primary", "requested")
    assert (request.start, request.end) == MARCUS_AWAY
    assert request.reason == f"vacation #{added.vacation.id}: marcus away 2027-01-13..2027-01-14 (wedding)"
    assert [r for r, _ in swap_notices("requested")] == ["jonas"]
    # Nothing published moved: marcus keeps the stretch until jonas accepts.
    assert primary_at(config, utc(2027, 1, 13, 18)) == "marcus"
    accept_swap(config, request.id, by="jonas", at=NOW + timedelta(hours=1))
    assert [primary_at(config, utc(2027, 1, d, h)) for d, h in ((13, 5), (13, 18), (15, 5), (15, 7))] == \
        ["marcus", "jonas", "jonas", "marcus"]


def test_a_vacation_on_a_published_shift_opens_a_swap_request_and_changes_nothing_until_accepted(config):
    check_vacation_opens_a_swap_to_the_next_in_rotation(config)


@pytest.mark.postgres
def test_a_vacation_opens_a_swap_request_on_postgresql(config, monkeypatch):
    from tests.pipelines.conftest import throwaway_postgres_databases

    from techflow_ops.oncall import clear_schedule_cache
    from techflow_ops.opsdb import dispose_engines, upgrade_to_head

    with throwaway_postgres_databases("techflow_vacations_test") as make_database:
        url = make_database()
        upgrade_to_head(url)
        monkeypatch.setenv("TECHFLOW_OPS_DB_URL", url)
        clear_schedule_cache()
        try:
            check_vacation_opens_a_swap_to_the_next_in_rotation(config)
        finally:
            dispose_engines()


def test_nobody_next_in_rotation_free_asks_anyone_eligible(config):
    # jonas and priya away too (DB vacations): after marcus, sofia holds secondary, so nobody named is free.
    add_vacation(config, person="jonas", first_day=date(2027, 1, 12), last_day=date(2027, 1, 16), at=NOW)
    add_vacation(config, person="priya", first_day=date(2027, 1, 12), last_day=date(2027, 1, 16), at=NOW)
    [request] = add_marcus(config).requests
    assert request.counterpart is None


def test_the_vacation_of_the_next_person_in_rotation_is_respected(config):
    add_vacation(config, person="jonas", first_day=date(2027, 1, 12), last_day=date(2027, 1, 16), at=NOW)
    [request] = add_marcus(config).requests
    assert request.counterpart == "priya"  # sofia (secondary) and jonas (away) skipped, wrapping to priya


def test_removing_a_vacation_cancels_its_open_swap_request(config):
    added = add_marcus(config)
    cancelled = remove_vacation(config, added.vacation.id, at=NOW + timedelta(hours=1))
    assert [(r.id, r.status, r.decided_by) for r in cancelled] == [(added.requests[0].id, "cancelled", "marcus")]
    assert list_swaps(config)[0].status == "cancelled"
    assert [r for r, _ in swap_notices("cancelled")] == ["jonas"]
    assert [v.id for v in list_vacations(config, person="marcus")] == [None, None]  # only oncall.yaml's are left
    refused("not_found", "id", remove_vacation, config, added.vacation.id, at=NOW)


def test_list_has_oncall_yaml_and_ops_db_vacations(config):
    added = add_marcus(config)
    listed = [(v.id, v.first_day.isoformat(), v.last_day.isoformat(), v.source) for v in list_vacations(config, person="marcus")]
    # oncall.yaml: marcus 2026-12-21..25 and 2027-05-03..07.
    assert listed == [(None, "2026-12-21", "2026-12-25", "oncall.yaml"), (added.vacation.id, "2027-01-13", "2027-01-14", "ops DB"),
                      (None, "2027-05-03", "2027-05-07", "oncall.yaml")]


def test_refusals_name_the_parameter(config):
    assert "unknown person" in refused("invalid", "person", add_vacation, config, person="zed", first_day=date(2027, 1, 13),
                                       last_day=date(2027, 1, 14), at=NOW).message
    assert "end before its start" in refused("invalid", "end", add_vacation, config, person="marcus",
                                             first_day=date(2027, 1, 14), last_day=date(2027, 1, 13), at=NOW).message
    add_marcus(config)
    error = refused("conflict", "start", add_vacation, config, person="marcus", first_day=date(2027, 1, 14),
                    last_day=date(2027, 1, 20), at=NOW)
    assert "overlaps" in error.message and "2027-01-13..2027-01-14" in error.message
    error = refused("conflict", "start", add_vacation, config, person="marcus", first_day=date(2026, 12, 24),
                    last_day=date(2026, 12, 28), at=NOW)
    assert "oncall.yaml" in error.message  # the YAML ones count too
    refused("invalid", "by", add_vacation, config, person="sofia", first_day=date(2027, 3, 1), last_day=date(2027, 3, 2),
            by="zed", at=NOW)


def test_the_generator_skips_a_db_vacation_on_the_next_publish(config):
    # Beyond the shipped history (published until 2027-06-07). The vacation is 14-21 June in the
    # person's own zone; `inside` lies within it in every member's zone (Berlin to Los Angeles).
    inside = (utc(2027, 6, 14, 12), utc(2027, 6, 21, 20))
    person = load_schedule_service(config, now=NOW).holder("primary", utc(2027, 6, 15, 12)).person
    assert load_schedule_service(config, now=NOW).shifts_of(person, *inside)  # they were due then
    added = add_vacation(config, person=person, first_day=date(2027, 6, 14), last_day=date(2027, 6, 21), at=NOW)
    assert added.requests == []  # nothing published there yet: the generator deals with it
    clear_registry_cache()
    publish_schedule(config, NOW, weeks=30)
    after = load_schedule_service(config, now=NOW)
    assert after.published.until > inside[1]
    assert after.shifts_of(person, *inside) == []
    assert after.holder("primary", utc(2027, 6, 15, 12)).person != person


def test_cli_vacation_add_list_remove_and_refusals(config, capsys):
    base = ("--config-dir", str(config))
    code, out, err = cli(capsys, "vacation", "add", *base, "--person", "marcus", "--start", "2027-01-13", "--end", "2027-01-14",
                         "--note", "wedding", "--format", "json")
    assert code == 0, err
    added = json.loads(out)
    assert (added["person"], added["start"], added["end"], added["source"]) == ("marcus", "2027-01-13", "2027-01-14", "ops DB")
    assert [(r["requester"], r["counterpart"], r["status"]) for r in added["swap_requests"]] == [("marcus", "jonas", "requested")]

    code, out, _ = cli(capsys, "vacation", "list", *base, "--person", "marcus")
    assert code == 0 and f"#{added['id']}" in out and "2027-01-13 .. 2027-01-14" in out and "oncall.yaml" in out

    assert cli(capsys, "vacation", "add", *base, "--person", "zed", "--start", "2027-02-01", "--end", "2027-02-02")[:2] == (2, "")
    code, _, err = cli(capsys, "vacation", "add", *base, "--person", "sofia", "--start", "2027-02-05", "--end", "2027-02-01")
    assert code == 2 and err.startswith("error: --end '2027-02-01': vacation end before its start 2027-02-05")
    code, _, err = cli(capsys, "vacation", "add", *base, "--person", "marcus", "--start", "2027-01-14", "--end", "2027-01-16")
    assert code == 2 and err.startswith("error: --start '2027-01-14': overlaps marcus's vacation")
    code, _, err = cli(capsys, "vacation", "add", *base, "--person", "sofia", "--start", "13/01/2027", "--end", "2027-02-01")
    assert code == 2 and "--start '13/01/2027'" in err

    code, out, err = cli(capsys, "vacation", "remove", *base, "--id", str(added["id"]))
    assert code == 0 and f"cancelled swap request(s) #{added['swap_requests'][0]['id']}" in out, err
    code, _, err = cli(capsys, "vacation", "remove", *base, "--id", str(added["id"]))
    assert code == 2 and err.startswith(f"error: --id {added['id']}: no such vacation")


def test_unknown_person_message_names_people_yaml(config):
    with pytest.raises(SwapError) as caught:
        add_vacation(config, person="zed", first_day=date(2027, 1, 13), last_day=date(2027, 1, 14), at=NOW)
    assert "people.yaml" in caught.value.message
