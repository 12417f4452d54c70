"""Every malformed config names the file, the field path and the offending value,
and nothing of a broken config folder is returned half-loaded."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from techflow_ops.registry import ConfigError, load_registry
from techflow_ops.registry.durations import format_duration, parse_duration

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def edit(config_dir: Path, file: str, change) -> None:
    path = config_dir / file
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def pipeline(data: dict, pid: str) -> dict:
    return next(p for p in data["pipelines"] if p["id"] == pid)


def person(data: dict, pid: str) -> dict:
    return next(p for p in data["people"] if p["id"] == pid)


def team(data: dict, tid: str) -> dict:
    return next(t for t in data["teams"] if t["id"] == tid)


def load_problem(config_dir: Path):
    with pytest.raises(ConfigError) as caught:
        load_registry(config_dir, project_root=config_dir.parent)
    return caught.value


def assert_problem(error: ConfigError, file: str, field: str, value, message_part: str) -> None:
    matches = [p for p in error.problems if Path(p.file).name == file and p.field == field]
    assert matches, f"no problem for {file} {field}; got: {error}"
    problem = matches[0]
    assert problem.value == value
    assert message_part in problem.message
    # The rendered message carries all three, as a person reading a log sees it.
    text = str(error)
    assert file in text and field in text and repr(value) in text


def test_shipped_config_loads(config_copy):
    registry = load_registry(config_copy, project_root=config_copy.parent)
    assert set(registry.pipelines) == {"profit", "growth", "engagement", "executive_investor", "experiment_team"}
    assert registry.teams["data_engineering"].members == ["priya", "marcus", "sofia", "jonas"]
    assert registry.pipelines["profit"].freshness_sla.total_seconds() == 24 * 3600
    assert registry.runbook_path("profit").is_file()


MALFORMED = [
    pytest.param(
        "pipelines.yaml", lambda d: pipeline(d, "profit")["owners"].update(primary="zoe"),
        "pipelines[profit].owners.primary", "zoe", "unknown person", id="unknown-owner",
    ),
    pytest.param(
        "pipelines.yaml", lambda d: pipeline(d, "growth")["owners"].update(secondary="marcus"),
        "pipelines[growth].owners.secondary", "marcus", "must differ from the primary owner", id="primary-equals-secondary",
    ),
    pytest.param(
        "pipelines.yaml", lambda d: pipeline(d, "engagement").update(business_owner_team="marketing"),
        "pipelines[engagement].business_owner_team", "marketing", "unknown team", id="unknown-team",
    ),
    pytest.param(
        "pipelines.yaml", lambda d: pipeline(d, "profit").update(runbook="include/runbooks/nope.md"),
        "pipelines[profit].runbook", "include/runbooks/nope.md", "runbook file not found", id="missing-runbook",
    ),
    pytest.param(
        "people.yaml", lambda d: person(d, "jonas").update(id="sofia"),
        "people[3].id", "sofia", "duplicate id", id="duplicate-person-id",
    ),
    pytest.param(
        "pipelines.yaml", lambda d: d["pipelines"].append(dict(pipeline(d, "growth"))),
        "pipelines[5].id", "growth", "duplicate id", id="duplicate-pipeline-id",
    ),
    pytest.param(
        "people.yaml", lambda d: person(d, "jonas").update(timezone="Europe/Berln"),
        "people[jonas].timezone", "Europe/Berln", "unknown IANA timezone", id="unknown-timezone",
    ),
    pytest.param(
        "pipelines.yaml", lambda d: pipeline(d, "profit").update(freshness_sla="24 hours-ish"),
        "pipelines[profit].freshness_sla", "24 hours-ish", "unparsable duration", id="unparsable-duration",
    ),
    pytest.param(
        "pipelines.yaml", lambda d: pipeline(d, "growth").update(resolution_sla=7),
        "pipelines[growth].resolution_sla", 7, "no unit", id="duration-without-unit",
    ),
    pytest.param(
        "pipelines.yaml", lambda d: pipeline(d, "experiment_team").pop("owners"),
        "pipelines[experiment_team].owners", None, "Field required", id="pipeline-without-owner",
    ),
    pytest.param(
        "pipelines.yaml", lambda d: pipeline(d, "profit").update(critcality="high"),
        "pipelines[profit].critcality", "high", "unknown key", id="typo-unknown-key",
    ),
    pytest.param(
        "teams.yaml", lambda d: team(d, "finance")["members"].append("hellen"),
        "teams[finance].members[3]", "hellen", "unknown person", id="unknown-team-member",
    ),
    pytest.param(
        "pipelines.yaml", lambda d: pipeline(d, "executive_investor")["upstream"].append("revenue"),
        "pipelines[executive_investor].upstream[3]", "revenue", "unknown pipeline", id="unknown-upstream",
    ),
    pytest.param(
        "pipelines.yaml", lambda d: pipeline(d, "profit").update(criticality="urgent"),
        "pipelines[profit].criticality", "urgent", "Input should be", id="unknown-criticality",
    ),
    pytest.param(
        "people.yaml", lambda d: person(d, "priya").update(email="priya-at-example"),
        "people[priya].email", "priya-at-example", "not an email address", id="bad-email",
    ),
    pytest.param(
        "pipelines.yaml", lambda d: pipeline(d, "growth").update(schedule="every day at noon"),
        "pipelines[growth].schedule", "every day at noon", "not a cron expression", id="bad-schedule",
    ),
]


@pytest.mark.parametrize("file, change, field, value, message_part", MALFORMED)
def test_malformed_config_names_file_field_and_value(config_copy, file, change, field, value, message_part):
    edit(config_copy, file, change)
    error = load_problem(config_copy)
    if value is None:  # a missing field has no value; the message says the field is required
        matches = [p for p in error.problems if p.field == field]
        assert matches and message_part in matches[0].message and Path(matches[0].file).name == file
    else:
        assert_problem(error, file, field, value, message_part)


def test_problem_carries_the_yaml_line(config_copy):
    edit(config_copy, "pipelines.yaml", lambda d: pipeline(d, "engagement")["owners"].update(primary="zoe"))
    error = load_problem(config_copy)
    (problem,) = [p for p in error.problems if p.field == "pipelines[engagement].owners.primary"]
    line = (config_copy / "pipelines.yaml").read_text().splitlines()[problem.line - 1]
    assert "zoe" in line


def test_every_problem_is_reported_at_once(config_copy):
    edit(config_copy, "pipelines.yaml", lambda d: [pipeline(d, "profit")["owners"].update(primary="zoe"),
                                                   pipeline(d, "growth").update(business_owner_team="marketing")])
    error = load_problem(config_copy)
    fields = {p.field for p in error.problems}
    assert {"pipelines[profit].owners.primary", "pipelines[growth].business_owner_team"} <= fields


def test_invalid_yaml_names_file_and_line(config_copy):
    (config_copy / "teams.yaml").write_text("teams:\n  - id: finance\n    members: [tom\n")
    error = load_problem(config_copy)
    assert error.problems[0].file.endswith("teams.yaml") and error.problems[0].field == "<yaml>"
    assert error.problems[0].line is not None


def test_upstream_cycle_is_refused(config_copy):
    def make_cycle(d):
        profit = pipeline(d, "profit")
        profit.pop("schedule")
        profit["upstream"] = ["executive_investor"]
    edit(config_copy, "pipelines.yaml", make_cycle)
    error = load_problem(config_copy)
    assert any(p.message == "upstream cycle" and "profit" in str(p.value) for p in error.problems)


@pytest.mark.parametrize("text, hours", [("24h", 24), ("7d", 168), ("1w", 168), ("1h30m", 1.5), ("P1D", 24), ("PT90M", 1.5)])
def test_durations_parse_and_round_trip(text, hours):
    delta = parse_duration(text)
    assert delta.total_seconds() == hours * 3600
    assert parse_duration(format_duration(delta)) == delta


def test_config_check_cli_exit_codes(config_copy):
    cli = [sys.executable, "-m", "techflow_ops.cli", "config", "check"]
    ok = subprocess.run(cli + [str(config_copy)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    edit(config_copy, "people.yaml", lambda d: person(d, "jonas").update(timezone="Mars/Olympus"))
    bad = subprocess.run(cli + [str(config_copy)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert re.search(r"people\.yaml:\d+: people\[jonas\]\.timezone = 'Mars/Olympus'", bad.stderr), bad.stderr


def test_runbooks_dir_setting_points_at_mounted_runbooks(config_copy, tmp_path, monkeypatch):
    mounted = tmp_path / "mounted-runbooks"
    mounted.mkdir()
    (mounted / "profit.md").write_text("# Runbook: Profit (mounted)\n")
    monkeypatch.setenv("TECHFLOW_RUNBOOKS_DIR", str(mounted))
    registry = load_registry(config_copy, project_root=config_copy.parent)
    assert registry.runbook_path("profit") == mounted / "profit.md"
    assert registry.runbook_path("growth") == config_copy.parent / "include" / "runbooks" / "growth.md"


def test_ops_db_under_a_missing_airflow_home_is_created(tmp_path, monkeypatch):
    """A fresh clone has no AIRFLOW_HOME yet; `techflow-ops dq report` and friends must still open the ops DB."""
    from sqlalchemy import text

    from techflow_ops.opsdb.engine import make_engine

    url = f"sqlite:///{tmp_path / 'not-yet' / 'home' / 'techflow_ops.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        assert conn.execute(text("select 1")).scalar() == 1
    engine.dispose()
    assert (tmp_path / "not-yet" / "home" / "techflow_ops.db").exists()
