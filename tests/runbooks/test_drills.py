"""Drills: inject a fault with the generator, run the pipelines, then run the runbook's own
diagnosis commands (through bash and the sqlite3 CLI, as the on-call engineer would) and
see the fault in their output; on clean data the same commands show nothing wrong."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest

from techflow_ops.pipelines import warehouse as wh
from techflow_ops.pipelines.steps import run_pipeline
from techflow_ops.pipelines.synthetic import FaultSpec, GeneratorConfig, generate
from techflow_ops.registry import get_registry
from techflow_ops.runbooks.commands import SHELL_LANGUAGES, _commands
from techflow_ops.runbooks.document import parse_file

pytestmark = pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 CLI the runbooks use is not installed")

START, END = date(2026, 10, 1), date(2026, 11, 3)
FAULT_DAY, OUTAGE_DAY = "2026-11-02", "2026-11-03"
FAULTS = (
    f"revenue:{FAULT_DAY}:revenue_ledger_mismatch",
    f"revenue:{FAULT_DAY}:zero_subscribers",
    f"salaries:{FAULT_DAY}:duplicate_events",
    f"expenses:{FAULT_DAY}:missing_partition",
    f"click_events:{FAULT_DAY}:late_events",
    f"click_events:{FAULT_DAY}:duplicate_events",
    f"click_events:{FAULT_DAY}:malformed_rows",
    f"click_events:{OUTAGE_DAY}:missing_partition",
)

#: (runbook, section anchor, a phrase picking the diagnosis command, the run's DAY, what the output shows with the fault)
CASES = [
    ("profit", "revenue-mismatch", "r.billed - l.recognised AS gap", FAULT_DAY, r"^ACC_\d+\|"),
    ("profit", "missing-expenses", "WHERE source = 'expenses'", FAULT_DAY, r"^2026-11-01\|0\|"),
    ("profit", "salary-duplicates", "FROM stg_salaries", FAULT_DAY, r"^\w+\|2026-11-01\|2\|"),
    ("profit", "zero-subscribers", "AND user_licenses = 0", FAULT_DAY, r"^ACC_\d+\|0\|"),
    ("growth", "missing-status-step", "LAG(new_status)", FAULT_DAY, r"^ACC_\d+\|"),
    ("growth", "missing-account-status", "FROM rejects WHERE source = 'account_status_changes'", OUTAGE_DAY, r"missing required field"),
    ("engagement", "late-events", "ROUND(100.0 * SUM(is_late)", FAULT_DAY, r"^\d+\|[1-9]\d*\|"),
    ("engagement", "duplicate-events", "COUNT(*) AS copies", FAULT_DAY, r"^USER_\d+\|.*\|2$"),
    ("engagement", "invalid-events", "SELECT reason, COUNT(*) FROM rejects", FAULT_DAY, r"unparsable JSON"),
    ("engagement", "kafka-outage", "partition_key AS hour, present", OUTAGE_DAY, r"^13\|0\|"),
]


def _world(root: Path, faults: tuple[str, ...]) -> Path:
    data = root / "data"
    generate(GeneratorConfig(START, END, accounts=12, events_per_day=400, faults=tuple(FaultSpec.parse(f) for f in faults)), data)
    engine = wh.get_engine(f"sqlite:///{data / 'warehouse.db'}")
    for day in (START + timedelta(days=n) for n in range((END - START).days + 1)):
        for pipeline_id in ("profit", "growth", "engagement"):
            try:
                run_pipeline(engine, pipeline_id, day, data_dir=data)
            except Exception:  # noqa: BLE001 - a drill's run may fail (e.g. a Kafka outage); diagnosis follows
                pass
    return root


def _status_fault_days(clean: Path) -> tuple[str, str]:
    """From the clean world: a day some account spends in Trial (not its sign-up day), so a
    skipped Trial -> Active step can be injected, and a day with status changes to blank keys in."""
    def query(sql: str) -> str:
        return subprocess.run(["sqlite3", "data/warehouse.db", sql], cwd=clean, capture_output=True, text=True, check=True).stdout.strip()

    in_trial = query(
        "SELECT date(t.change_date, '+1 day') FROM stg_account_status_changes t WHERE t.new_status = 'Trial' "
        f"AND t.change_date < '{FAULT_DAY}' AND NOT EXISTS (SELECT 1 FROM stg_account_status_changes n "
        "WHERE n.account_id = t.account_id AND n.change_date <= date(t.change_date, '+1 day') AND n.change_date > t.change_date) "
        "ORDER BY t.change_date LIMIT 1"
    )
    with_changes = query(f"SELECT MIN(change_date) FROM stg_account_status_changes WHERE change_date < '{FAULT_DAY}'")
    assert in_trial and with_changes, "the generated history has no trial account or no status change before the fault day"
    return in_trial, with_changes


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[str, Path]:
    clean = _world(tmp_path_factory.mktemp("drill-clean"), ())
    in_trial, with_changes = _status_fault_days(clean)
    faults = FAULTS + (f"account_status_changes:{in_trial}:skipped_status_step", f"account_status_changes:{with_changes}:null_keys")
    return {"faulty": _world(tmp_path_factory.mktemp("drill-faulty"), faults), "clean": clean}


def _diagnosis_command(pipeline_id: str, anchor: str, phrase: str) -> str:
    doc = parse_file(get_registry().runbook_path(pipeline_id))
    section = next(s for s in doc.sections(3) if s.heading.anchor == anchor)
    commands = [
        text for code in doc.fences if code.language in SHELL_LANGUAGES and section.contains(code.line)
        for text, _ in _commands(code.text, code.line) if phrase in text
    ]
    assert len(commands) == 1, f"{pipeline_id}#{anchor}: expected one command containing {phrase!r}, found {commands}"
    return commands[0]


def _run(root: Path, command: str, day: str) -> str:
    script = f"DATA=data\nWAREHOUSE=$DATA/warehouse.db\nDAY={day}\nMONTH={day[:8]}01\n{command}\n"
    result = subprocess.run(["bash", "-c", script], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(("pipeline_id", "anchor", "phrase", "day", "evidence"), CASES, ids=[f"{c[0]}#{c[1]}" for c in CASES])
def test_runbook_diagnosis_shows_the_injected_fault(worlds, pipeline_id, anchor, phrase, day, evidence):
    command = _diagnosis_command(pipeline_id, anchor, phrase)
    faulty = _run(worlds["faulty"], command, day)
    clean = _run(worlds["clean"], command, day)
    assert re.search(evidence, faulty, re.MULTILINE), f"fault not visible in:\n{faulty}"
    assert not re.search(evidence, clean, re.MULTILINE), f"clean data looks faulty:\n{clean}"


def test_fix_and_rerun_clears_the_diagnosis(tmp_path):
    """The runbook loop end to end for two faults: diagnose, fix the source (re-land clean data), re-run, diagnose clean."""
    faults = (f"revenue:{FAULT_DAY}:revenue_ledger_mismatch", f"click_events:{OUTAGE_DAY}:missing_partition")
    root = _world(tmp_path, faults)
    checks = [(CASES[0], FAULT_DAY), (CASES[-1], OUTAGE_DAY)]
    commands = [(_diagnosis_command(*case[:3]), case[4], day) for case, day in checks]
    for command, evidence, day in commands:
        assert re.search(evidence, _run(root, command, day), re.MULTILINE)
    _world(root, ())  # the source is fixed and re-landed; every date is re-run
    for command, evidence, day in commands:
        assert not re.search(evidence, _run(root, command, day), re.MULTILINE)
