"""Swaps and takes (issue 17 part 3): the state machine on the ops DB (SQLite, and once on
PostgreSQL), the overrides a decision amounts to, the notices it queues, the audit trail, the
fairness report counting hours against whoever served them, and the CLI's refusals.

The shipped published history (tests/oncall/test_state.with_shipped_history) fixes who holds what:
  primary   marcus 2027-01-11 15:00Z .. 01-18 15:00Z (secondary sofia)
  primary   sofia  2027-01-18 15:00Z .. 01-25 15:00Z (secondary jonas)
  primary   jonas  2027-01-25 15:00Z .. 02-01 15:00Z (secondary priya; investor watch marcus .. 02-01 05:00Z)
  primary   priya  2027-02-01 15:00Z .. 02-08 15:00Z (secondary marcus)
Everything happens "now" = NOW, a week before.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from techflow_ops.escalation.store import outbox
from techflow_ops.oncall.fairness import fairness_report, window_shifts
from techflow_ops.oncall.service import (
    accept_swap,
    approve_swap,
    cancel_swap,
    decline_swap,
    list_swaps,
    load_schedule_service,
    request_swap,
    take_shift,
)
from techflow_ops.oncall.swaps import SwapError
from techflow_ops.opsdb import get_engine
from techflow_ops.registry import ConfigError, clear_registry_cache

from .test_state import with_shipped_history


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


NOW = utc(2027, 1, 4, 12)
MARCUS_WEEK = (utc(2027, 1, 11, 15), utc(2027, 1, 18, 15))  # marcus primary, sofia secondary
JONAS_LAST_HOURS = (utc(2027, 2, 1, 5), utc(2027, 2, 1, 15))  # jonas primary; marcus's investor watch ended at 05:00


@pytest.fixture
def config(config_copy):
    with_shipped_history(config_copy)
    clear_registry_cache()
    return config_copy


@pytest.fixture
def lead_config(config):
    """rules.swap_approval: lead (data_engineering's lead in teams.yaml is dana)."""
    path = config / "oncall.yaml"
    path.write_text(path.read_text().replace("  no_back_to_back: true", "  no_back_to_back: true\n  swap_approval: lead"))
    return config


def primary_at(config, at: datetime) -> str:
    return load_schedule_service(config, now=NOW).now(at).primary


def swap_notices(step: str) -> list[tuple[str, str]]:
    """(recipient, subject) of the outbox rows a step of the swaps queued."""
    with get_engine().connect() as connection:
        rows = connection.execute(select(outbox.c.recipient, outbox.c.subject, outbox.c.idempotency_key)
                                  .where(outbox.c.purpose == "swap").order_by(outbox.c.id))
        return [(r.recipient, r.subject) for r in rows if f":{step}:" in r.idempotency_key]


def refused(kind: str, field: str, call, *args, **kwargs) -> SwapError:
    with pytest.raises(SwapError) as caught:
        call(*args, **kwargs)
    assert (caught.value.kind, caught.value.field) == (kind, field), str(caught.value)
    return caught.value


def check_request_accept_approve(config) -> None:
    """marcus swaps his whole primary week with jonas, who gives back the last ten hours of his own
    primary shift; the lead approves; both directions are in effect at once."""
    request = request_swap(config, by="marcus", role="primary", start=MARCUS_WEEK[0], with_person="jonas",
                           reason="family wedding", at=NOW)
    assert (request.status, request.start, request.end, request.counterpart) == ("requested", *MARCUS_WEEK, "jonas")
    assert [r for r, _ in swap_notices("requested")] == ["jonas"]

    accepted = accept_swap(config, request.id, by="jonas", give_back_start=JONAS_LAST_HOURS[0], at=NOW + timedelta(hours=1))
    assert (accepted.status, accepted.accepted_by, accepted.in_effect) == ("accepted", "jonas", False)
    assert (accepted.give_back.start, accepted.give_back.end) == JONAS_LAST_HOURS  # to the end of jonas's shift
    assert primary_at(config, utc(2027, 1, 13, 18)) == "marcus"  # waits for the lead
    assert sorted(r for r, _ in swap_notices("accepted")) == ["dana", "marcus"]

    refused("forbidden", "by", approve_swap, config, request.id, by="sofia", at=NOW + timedelta(hours=2))
    approved = approve_swap(config, request.id, by="dana", at=NOW + timedelta(hours=2))
    assert (approved.status, approved.decided_by, approved.in_effect) == ("approved", "dana", True)
    assert approved.decided_at == NOW + timedelta(hours=2) and approved.requested_at == NOW
    assert primary_at(config, utc(2027, 1, 13, 18)) == "jonas"
    assert primary_at(config, utc(2027, 1, 31, 12)) == "jonas"  # before what he gave back
    assert primary_at(config, utc(2027, 2, 1, 10)) == "marcus"
    assert primary_at(config, utc(2027, 2, 1, 16)) == "priya"  # the next shift is untouched
    assert sorted(r for r, _ in swap_notices("applied")) == ["jonas", "marcus"]
    trail = [(e.action, e.actor, e.from_person, e.to_person) for e in list_swaps(config)[0].events]
    assert trail == [("requested", "marcus", "marcus", "jonas"), ("accepted", "jonas", "jonas", "marcus"),
                     ("approved", "dana", None, None), ("applied", "dana", "marcus", "jonas"), ("applied", "dana", "jonas", "marcus")]
    refused("conflict", "id", approve_swap, config, request.id, by="dana", at=NOW + timedelta(hours=3))


def test_request_accept_approve_on_sqlite(lead_config):
    check_request_accept_approve(lead_config)


@pytest.mark.postgres
def test_request_accept_approve_on_postgresql(lead_config, monkeypatch):
    from tests.pipelines.conftest import throwaway_postgres_databases

    from techflow_ops.oncall import clear_schedule_cache
    from techflow_ops.opsdb import dispose_engines, upgrade_to_head

    with throwaway_postgres_databases("techflow_swaps_test") as make_database:
        url = make_database()
        upgrade_to_head(url)
        monkeypatch.setenv("TECHFLOW_OPS_DB_URL", url)
        clear_schedule_cache()
        try:
            check_request_accept_approve(lead_config)
        finally:
            dispose_engines()


def test_without_approval_an_accepted_swap_is_in_effect_at_once(config):
    request = request_swap(config, by="marcus", role="primary", start=utc(2027, 1, 13, 15), end=utc(2027, 1, 14, 15),
                           with_person="anyone", at=NOW)
    # Anyone eligible is asked: not sofia (secondary that week), not marcus himself.
    assert sorted(r for r, _ in swap_notices("requested")) == ["jonas", "priya"]
    done = accept_swap(config, request.id, by="priya", at=NOW)
    assert (done.status, done.decided_by, done.in_effect, done.give_back) == ("approved", "priya", True, None)
    assert [primary_at(config, utc(2027, 1, 13, h)) for h in (14, 16)] == ["marcus", "priya"]
    assert primary_at(config, utc(2027, 1, 14, 16)) == "marcus"


def test_a_declined_request_changes_nothing_and_cannot_be_accepted(config):
    request = request_swap(config, by="marcus", role="primary", start=MARCUS_WEEK[0], with_person="priya", at=NOW)
    refused("forbidden", "by", decline_swap, config, request.id, by="jonas", at=NOW)  # not asked of him
    declined = decline_swap(config, request.id, by="priya", reason="away that week", at=NOW)
    assert (declined.status, declined.decided_by) == ("declined", "priya")
    assert [r for r, _ in swap_notices("declined")] == ["marcus"]
    error = refused("conflict", "id", accept_swap, config, request.id, by="priya", at=NOW)
    assert "already declined (by priya" in error.message
    assert primary_at(config, utc(2027, 1, 13, 18)) == "marcus"


def test_only_the_requester_cancels_and_a_cancelled_request_is_closed(config):
    request = request_swap(config, by="marcus", role="primary", start=MARCUS_WEEK[0], with_person="priya", at=NOW)
    refused("forbidden", "by", cancel_swap, config, request.id, by="priya", at=NOW)
    cancelled = cancel_swap(config, request.id, by="marcus", at=NOW)
    assert (cancelled.status, cancelled.decided_by) == ("cancelled", "marcus")
    refused("conflict", "id", accept_swap, config, request.id, by="priya", at=NOW)
    refused("conflict", "id", cancel_swap, config, request.id, by="marcus", at=NOW)


def test_a_second_accept_is_refused(config):
    request = request_swap(config, by="marcus", role="primary", start=MARCUS_WEEK[0], with_person="anyone", at=NOW)
    accept_swap(config, request.id, by="priya", at=NOW)
    error = refused("conflict", "id", accept_swap, config, request.id, by="jonas", at=NOW + timedelta(minutes=1))
    assert "already approved (by priya" in error.message
    assert primary_at(config, utc(2027, 1, 13, 18)) == "priya"


def test_a_shift_already_past_or_begun_is_refused(config):
    during = utc(2027, 1, 13, 12)
    error = refused("conflict", "start", request_swap, config, by="marcus", role="primary", start=MARCUS_WEEK[0],
                    with_person="priya", at=during)
    assert "already past or begun" in error.message
    # Asked in time, but accepted once the stretch began: too late.
    request = request_swap(config, by="marcus", role="primary", start=utc(2027, 1, 13, 15), with_person="priya", at=NOW)
    refused("conflict", "id", accept_swap, config, request.id, by="priya", at=utc(2027, 1, 13, 16))


def test_anyone_accepted_by_an_ineligible_person_is_refused(config):
    request = request_swap(config, by="marcus", role="primary", start=MARCUS_WEEK[0], with_person="anyone", at=NOW)
    error = refused("invalid", "by", accept_swap, config, request.id, by="sofia", at=NOW)
    assert "holds secondary then" in error.message
    error = refused("invalid", "by", accept_swap, config, request.id, by="dana", at=NOW)  # the lead is no rotation member
    assert "not a member of rotation" in error.message
    assert list_swaps(config)[0].status == "requested"


def test_request_refusals_name_the_parameter(config):
    assert "unknown person" in refused("invalid", "by", request_swap, config, by="zed", role="primary",
                                       start=MARCUS_WEEK[0], at=NOW).message
    assert "holds no primary shift" in refused("invalid", "start", request_swap, config, by="priya", role="primary",
                                               start=utc(2027, 1, 13, 18), at=NOW).message
    assert "holds secondary then" in refused("invalid", "with", request_swap, config, by="marcus", role="primary",
                                             start=MARCUS_WEEK[0], with_person="sofia", at=NOW).message
    refused("not_found", "id", accept_swap, config, 999, by="priya", at=NOW)


def test_a_take_is_in_effect_at_once_and_fairness_counts_the_hours_against_who_served_them(config):
    take = take_shift(config, by="priya", holder="marcus", role="primary", start=utc(2027, 1, 13, 15),
                      end=utc(2027, 1, 14, 15), reason="marcus is ill", at=NOW)
    assert (take.kind, take.status, take.in_effect, take.requester, take.counterpart) == ("take", "approved", True, "priya", "marcus")
    assert sorted(r for r, _ in swap_notices("applied")) == ["marcus", "priya"]
    service = load_schedule_service(config, now=NOW)
    shifts, timeline, _ = window_shifts(service, *MARCUS_WEEK)
    report = fairness_report(service.rotation, shifts, timeline, *MARCUS_WEEK)
    primary = report["fair"]["per_person"]["primary"]
    assert (primary["priya"]["hours"], primary["marcus"]["hours"]) == (24.0, 144.0)  # 168 h week, 24 h taken


def test_a_stretch_swapped_again_trims_the_earlier_override(config):
    take_shift(config, by="priya", holder="marcus", role="primary", start=utc(2027, 1, 13, 15), end=utc(2027, 1, 15, 15), at=NOW)
    # priya now holds 13th 15:00 .. 15th 15:00 through an override; jonas takes its second day from her.
    take_shift(config, by="jonas", holder="priya", role="primary", start=utc(2027, 1, 14, 15), at=NOW)
    assert [primary_at(config, utc(2027, 1, d, 18)) for d in (12, 13, 14, 15)] == ["marcus", "priya", "jonas", "marcus"]


def test_with_approval_a_take_waits_for_the_lead(lead_config):
    take = take_shift(lead_config, by="priya", holder="marcus", role="primary", start=utc(2027, 1, 13, 15), at=NOW)
    assert (take.status, take.in_effect) == ("accepted", False)
    assert primary_at(lead_config, utc(2027, 1, 13, 18)) == "marcus"
    decline_swap(lead_config, take.id, by="dana", reason="marcus is fine", at=NOW)
    assert primary_at(lead_config, utc(2027, 1, 13, 18)) == "marcus"
    assert list_swaps(lead_config)[0].status == "declined"


def test_swap_approval_lead_needs_a_team_lead(config):
    oncall = config / "oncall.yaml"
    oncall.write_text(oncall.read_text().replace("  no_back_to_back: true", "  no_back_to_back: true\n  swap_approval: lead"))
    teams = config / "teams.yaml"
    teams.write_text(teams.read_text().replace("    lead: dana\n", "", 1))
    clear_registry_cache()
    with pytest.raises(ConfigError) as caught:
        load_schedule_service(config, now=NOW)
    text = str(caught.value)
    assert "oncall.yaml" in text and "rules.swap_approval" in text and "'lead'" in text and "no `lead`" in text


def test_swap_approval_takes_lead_or_none(config):
    oncall = config / "oncall.yaml"
    oncall.write_text(oncall.read_text().replace("  no_back_to_back: true", "  no_back_to_back: true\n  swap_approval: boss"))
    with pytest.raises(ConfigError) as caught:
        load_schedule_service(config, now=NOW)
    assert "rules.swap_approval" in str(caught.value) and "boss" in str(caught.value)


# --- the CLI: exit 2 with the flag and value at fault; list shows the audit trail ------------

def cli(capsys, *argv) -> tuple[int, str, str]:
    from techflow_ops.cli import main

    code = main(["oncall", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_swap_request_accept_list_and_refusals(config, capsys):
    base = ("--config-dir", str(config))
    code, _, err = cli(capsys, "swap", "request", *base, "--by", "nobody", "--role", "primary", "--start", "2027-01-12T00:00:00Z")
    assert code == 2 and "--by 'nobody': unknown person" in err
    code, _, err = cli(capsys, "swap", "request", *base, "--by", "priya", "--role", "primary", "--start", "2027-01-12T00:00:00Z")
    assert code == 2 and "--start '2027-01-12T00:00:00Z': priya holds no primary shift" in err
    code, out, _ = cli(capsys, "swap", "request", *base, "--by", "marcus", "--role", "primary", "--start", "2027-01-12T00:00:00Z",
                       "--with", "priya", "--format", "json")
    assert code == 0
    import json

    request = json.loads(out)
    assert (request["start"], request["end"], request["counterpart"]) == ("2027-01-12T00:00:00Z", "2027-01-18T15:00:00Z", "priya")
    code, _, err = cli(capsys, "swap", "accept", *base, str(request["id"]), "--by", "jonas")
    assert code == 2 and "--by 'jonas': request #" in err and "asks priya" in err
    code, _, err = cli(capsys, "swap", "approve", *base, "12345", "--by", "dana")
    assert code == 2 and "request id 12345: no such swap request" in err
    code, out, _ = cli(capsys, "swap", "accept", *base, str(request["id"]), "--by", "priya")
    assert code == 0 and "approved" in out and "(in effect)" in out
    code, _, err = cli(capsys, "swap", "decline", *base, str(request["id"]), "--by", "priya")
    assert code == 2 and "already approved" in err
    code, out, _ = cli(capsys, "swap", "list", *base)
    assert code == 0 and "applied   by priya primary 2027-01-12T00:00:00Z .. 2027-01-18T15:00:00Z marcus -> priya" in out
    code, _, err = cli(capsys, "take", *base, "--by", "sofia", "--from", "marcus", "--role", "primary", "--start", "2027-01-11T16:00:00Z")
    assert code == 2 and "--by 'sofia': not eligible" in err
