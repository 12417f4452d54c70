"""Every bad rotation/override input names file, field and value; nothing is silently dropped."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from techflow_ops.oncall import check_config_dir
from techflow_ops.oncall.published import publish, write_published
from techflow_ops.registry import ConfigError, load_registry

from .helpers import edit_oncall, service, write_overrides_yaml

CLI = str(Path(sys.executable).parent / "techflow-ops")


def problems_of(config_dir: Path):
    with pytest.raises(ConfigError) as caught:
        check_config_dir(config_dir, load_registry(config_dir))
    return caught.value.problems


def one(config_dir: Path, file: str, field: str):
    matching = [p for p in problems_of(config_dir) if p.field == field]
    assert matching, f"no problem for {field}: {problems_of(config_dir)}"
    assert matching[0].file.endswith(file)
    return matching[0]


def test_shipped_config_is_valid():
    check_config_dir(Path("include/config").resolve(), load_registry())


def test_unknown_person_in_rotation(config_copy):
    edit_oncall(config_copy, lambda d: d["rotation"]["members"].append("ghost"))
    problem = one(config_copy, "oncall.yaml", "rotation.members[4]")
    assert problem.value == "ghost" and "unknown person" in problem.message and problem.line


def test_rotation_with_one_member(config_copy):
    def shrink(d):
        d["rotation"]["members"] = ["priya"]
        d["investor_period"]["watch_role"] = False

    edit_oncall(config_copy, shrink)
    problem = one(config_copy, "oncall.yaml", "rotation.members")
    assert problem.value == ["priya"] and "distinct secondary" in problem.message


def test_vacation_end_before_start(config_copy):
    edit_oncall(config_copy, lambda d: d["vacations"]["priya"].__setitem__(0, {"start": "2027-02-19", "end": "2027-02-15"}))
    problem = one(config_copy, "oncall.yaml", "vacations[priya][0].end")
    assert problem.value == "2027-02-15" and "before its start" in problem.message


def test_vacation_for_someone_outside_the_rotation(config_copy):
    edit_oncall(config_copy, lambda d: d["vacations"].__setitem__("tom", [{"start": "2027-01-04", "end": "2027-01-08"}]))
    assert "not in the rotation" in one(config_copy, "oncall.yaml", "vacations[tom]").message


def test_invalid_timezone(config_copy):
    edit_oncall(config_copy, lambda d: d["rotation"]["handoff"].__setitem__("timezone", "Mars/Olympus"))
    problem = one(config_copy, "oncall.yaml", "rotation.handoff.timezone")
    assert problem.value == "Mars/Olympus" and "timezone" in problem.message


@pytest.mark.parametrize("value", ["25:00", "10am", "9:5"])
def test_invalid_handoff_time(config_copy, value):
    edit_oncall(config_copy, lambda d: d["rotation"]["handoff"].__setitem__("time", value))
    problem = one(config_copy, "oncall.yaml", "rotation.handoff.time")
    assert problem.value == value and "HH:MM" in problem.message


def test_unknown_country_and_typo_key(config_copy):
    def bad(d):
        d["holidays"]["country"] = "XX"
        d["rules"]["no_back2back"] = True

    edit_oncall(config_copy, bad)
    assert "country" in one(config_copy, "oncall.yaml", "holidays.country").message
    assert "unknown key" in one(config_copy, "oncall.yaml", "rules.no_back2back").message


OVERRIDE = {"id": "a", "person": "dana", "role": "primary", "start": "2026-12-01T09:00:00Z",
            "end": "2026-12-01T18:00:00Z", "reason": "swap"}


def test_override_end_before_start(config_copy):
    write_overrides_yaml(config_copy, [OVERRIDE | {"end": "2026-12-01T08:00:00Z"}])
    problem = one(config_copy, "oncall_overrides.yaml", "overrides[a].end")
    assert "2026-12-01T08:00:00" in problem.value and "before" in problem.message


def test_overlapping_overrides_for_one_role(config_copy):
    write_overrides_yaml(config_copy, [OVERRIDE, OVERRIDE | {"id": "b", "person": "priya", "start": "2026-12-01T17:00:00Z",
                                                         "end": "2026-12-02T09:00:00Z"},
                                  OVERRIDE | {"id": "c", "role": "secondary", "person": "marcus"}])
    problems = problems_of(config_copy)
    assert [p.field for p in problems] == ["overrides[b].start"]
    assert "overlaps override 'a'" in problems[0].message


def test_override_unknown_person_and_naive_time(config_copy):
    write_overrides_yaml(config_copy, [OVERRIDE | {"person": "nobody", "start": "2026-12-01T09:00:00"}])
    fields = {p.field: p for p in problems_of(config_copy)}
    assert fields["overrides[a].person"].value == "nobody"
    assert "offset" in fields["overrides[a].start"].message


def test_config_check_cli_reports_oncall_problems(config_copy):
    edit_oncall(config_copy, lambda d: d["rotation"]["members"].append("ghost"))
    result = subprocess.run([CLI, "config", "check", str(config_copy)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "oncall.yaml" in result.stderr and "rotation.members[4]" in result.stderr and "'ghost'" in result.stderr


def test_hand_edited_published_schedule_is_checked(config_copy):
    # The published YAML is an export and the one-time import's input: `config check` still checks it.
    config = service(config_copy).config
    write_published(config.published_file, publish(config, datetime(2026, 11, 26, 19, tzinfo=timezone.utc), None).published)
    text = config.published_file.read_text()
    config.published_file.write_text(text.replace('role: "secondary"', 'role: "secundary"', 1))
    problem = one(config_copy, "published_schedule.yaml", next(p.field for p in problems_of(config_copy)))
    assert problem.field.startswith("shifts[") and problem.field.endswith("].role") and problem.value == "secundary"
    config.published_file.write_text(text.replace('rotation: "data_engineering_oncall"', 'rotation: "other"'))
    assert one(config_copy, "published_schedule.yaml", "rotation").value == "other"
