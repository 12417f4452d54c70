"""`techflow-ops oncall ...`: exit codes, stable JSON shapes, override editing."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from icalendar import Calendar

from techflow_ops.cli import main
from techflow_ops.oncall.fairness import METRICS

from .helpers import edit_oncall, service

UTC = timezone.utc


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_now_json_shape_and_page_order(config_copy, capsys):
    code, out, _ = run(capsys, "oncall", "now", "--config-dir", str(config_copy), "--at", "2026-11-27T12:00:00Z",
                       "--pipeline", "profit", "--format", "json")
    payload = json.loads(out)
    assert code == 0
    assert set(payload) == {"at", "primary", "secondary", "investor_watch", "in_investor_period", "next_handoff",
                            "off_hours", "gaps", "sources", "pipeline", "page_order"}
    svc = service(config_copy)
    at = datetime(2026, 11, 27, 12, tzinfo=UTC)
    now = svc.now(at)
    assert (payload["primary"], payload["secondary"], payload["investor_watch"]) == (now.primary, now.secondary, now.investor_watch)
    assert payload["at"] == "2026-11-27T12:00:00Z" and now.in_investor_period
    # escalation.yaml investor_period.steps: the primary and the watch, then the owners, the
    # secondary and the rest of the rotation: the whole team, nobody twice
    profit = svc.registry.pipelines["profit"]
    expected = []
    for person in (now.primary, now.investor_watch, profit.owners.primary, profit.owners.secondary, now.secondary,
                   *svc.rotation.members):
        if person not in expected:
            expected.append(person)
    assert payload["page_order"] == expected and len(expected) == len(svc.rotation.members)


def test_now_rejects_naive_times_and_unknown_pipelines(config_copy, capsys):
    try:
        run(capsys, "oncall", "now", "--config-dir", str(config_copy), "--at", "2026-11-27T12:00:00")
    except SystemExit as exc:
        assert "no UTC offset" in str(exc)
    else:
        raise AssertionError("a naive --at must be refused")
    code, _, err = run(capsys, "oncall", "now", "--config-dir", str(config_copy), "--pipeline", "nope")
    assert code == 2 and "unknown pipeline 'nope'" in err


def test_override_add_list_remove_round_trip(config_copy, capsys):
    base = ["--config-dir", str(config_copy)]
    code, out, _ = run(capsys, "oncall", "override", "add", *base, "--person", "dana", "--role", "primary",
                       "--start", "2026-12-02T14:00:00Z", "--end", "2026-12-03T02:00:00Z", "--reason", "team offsite")
    assert code == 0 and "dana-primary-20261202T1400" in out
    code, out, _ = run(capsys, "oncall", "override", "list", *base, "--format", "json")
    assert json.loads(out)["overrides"] == [{"id": "dana-primary-20261202T1400", "person": "dana", "role": "primary",
                                             "start": "2026-12-02T14:00:00Z", "end": "2026-12-03T02:00:00Z",
                                             "reason": "team offsite"}]
    code, out, _ = run(capsys, "oncall", "now", *base, "--at", "2026-12-02T20:00:00Z", "--format", "json")
    assert json.loads(out)["primary"] == "dana" and json.loads(out)["sources"]["primary"] == "override"
    # A bad override is refused naming where (the ops DB's overrides), field and value, and changes nothing.
    yaml_before = (config_copy / "oncall_overrides.yaml").read_text()
    code, _, err = run(capsys, "oncall", "override", "add", *base, "--person", "priya", "--role", "primary",
                       "--start", "2026-12-02T20:00:00Z", "--end", "2026-12-02T22:00:00Z", "--reason", "clash")
    assert code == 1 and "ops DB (oncall_overrides)" in err and "overrides[priya-primary-20261202T2000].start" in err
    assert "overlaps override 'dana-primary-20261202T1400'" in err
    code, out, _ = run(capsys, "oncall", "override", "list", *base, "--format", "json")
    assert [o["id"] for o in json.loads(out)["overrides"]] == ["dana-primary-20261202T1400"]
    code, _, _ = run(capsys, "oncall", "override", "remove", *base, "dana-primary-20261202T1400")
    assert code == 0
    code, out, _ = run(capsys, "oncall", "override", "list", *base, "--format", "json")
    assert json.loads(out)["overrides"] == []
    code, out, _ = run(capsys, "oncall", "now", *base, "--at", "2026-12-02T20:00:00Z", "--format", "json")
    now = json.loads(out)
    assert now["primary"] in {"priya", "marcus", "sofia", "jonas"} and now["sources"]["primary"] != "override"
    code, _, err = run(capsys, "oncall", "override", "remove", *base, "dana-primary-20261202T1400")
    assert code == 2 and "no active override" in err
    # The state is the ops DB: the YAML file is neither read nor rewritten after the first-use import.
    assert (config_copy / "oncall_overrides.yaml").read_text() == yaml_before


def test_gaps_exit_code_and_publish_report(config_copy, capsys):
    base = ["--config-dir", str(config_copy)]
    assert run(capsys, "oncall", "gaps", *base, "--from", "2026-12-01", "--weeks", "8")[0] == 0

    def everyone_away(d):
        for person in d["rotation"]["members"]:
            d["vacations"][person] = [{"start": "2026-12-15", "end": "2026-12-16"}]

    edit_oncall(config_copy, everyone_away)
    code, out, _ = run(capsys, "oncall", "publish", *base, "--at", "2026-11-26T19:00:00Z", "--format", "json")
    payload = json.loads(out)
    assert code == 1 and payload["written"] and payload["gaps"]
    assert set(payload) == {"stored_in", "written", "published_at", "frozen_until", "until", "shifts", "gaps", "moved", "notes"}
    code, out, _ = run(capsys, "oncall", "gaps", *base, "--from", "2026-12-01", "--weeks", "8", "--format", "json")
    gaps = json.loads(out)["gaps"]
    assert code == 1 and {g["role"] for g in gaps} >= {"primary", "secondary"}
    assert set(gaps[0]) == {"role", "kind", "start", "end", "reason", "people"}


def test_fairness_json_and_ics_file(config_copy, capsys, tmp_path):
    base = ["--config-dir", str(config_copy)]
    code, out, _ = run(capsys, "oncall", "fairness", *base, "--format", "json")
    report = json.loads(out)
    assert code == 0 and set(report) == {"rotation", "from", "until", "members", "weights", "units", "fair",
                                         "round_robin", "notes"}
    assert set(report["fair"]["spread"]["primary"]) == set(METRICS) == set(report["fair"]["gini"]["primary"])
    assert set(report["round_robin"]) == {"per_person", "spread", "gini", "gaps"}
    assert set(report["fair"]["per_person"]["primary"]) == {"priya", "marcus", "sofia", "jonas"}
    target = tmp_path / "sofia.ics"
    assert run(capsys, "oncall", "ics", *base, "--person", "sofia", "--output", str(target))[0] == 0
    assert Calendar.from_ical(target.read_bytes()).walk("VEVENT")
    code, out, _ = run(capsys, "oncall", "schedule", *base, "--from", "2026-12-01", "--weeks", "2", "--format", "json")
    shifts = json.loads(out)["shifts"]
    assert code == 0 and shifts and set(shifts[0]) == {"person", "role", "start", "end", "source", "reason"}


def test_fairness_past_the_published_horizon_is_generated_and_says_so(config_copy, capsys):
    base = ["--config-dir", str(config_copy)]
    svc = service(config_copy)
    code, out, _ = run(capsys, "oncall", "fairness", *base, "--from", "2026-11-23", "--weeks", "104", "--format", "json")
    report = json.loads(out)
    until = datetime.fromisoformat(report["until"].replace("Z", "+00:00"))
    assert code == 0 and until > svc.covered_until  # not silently cut at the horizon
    assert any("generated by the fair generator" in note and "2026-11-23" not in note for note in report["notes"])
    # ~104 weekly primary shifts over 4 people: about 26 each, counted to the end of the window
    assert sum(row["shifts"] for row in report["fair"]["per_person"]["primary"].values()) >= 100
