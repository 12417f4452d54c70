"""`techflow-ops runbooks check` names file, line and what is wrong for every kind of drift."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from techflow_ops.cli import build_parser
from techflow_ops.runbooks.check import check_all, check_runbook, generate_all

RUNBOOK = "include/runbooks/profit.md"


def edit(path: Path, old: str, new: str) -> int:
    """Replace the first `old` by `new` in `path`; return the 1-based line where it was."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


def problems_of(registry, pipeline_id: str = "profit") -> list[str]:
    return [str(p) for p in check_runbook(registry, registry.pipelines[pipeline_id], parser=build_parser())]


@pytest.fixture
def runbook(project_copy: Path) -> Path:
    return project_copy / RUNBOOK


def reload(project_copy: Path):
    from techflow_ops.registry import load_registry

    return load_registry(project_copy / "config", project_root=project_copy)


def test_untouched_copy_passes(copy_registry):
    assert problems_of(copy_registry) == []


def test_missing_section_names_file_and_where_it_belongs(runbook, project_copy):
    text = runbook.read_text()
    start, end = text.index("## SLA\n"), text.index("## Monitoring and alerting\n")
    runbook.write_text(text[:start] + text[end:])
    monitoring_line = runbook.read_text()[: runbook.read_text().index("## Monitoring and alerting")].count("\n") + 1
    problems = problems_of(reload(project_copy))
    assert f"{RUNBOOK}:{monitoring_line}: required section '## SLA' is missing (it goes before '## Monitoring and alerting')" in problems
    assert any("generated block 'sla' is missing" in p for p in problems)


def test_missing_failure_class_section(runbook, project_copy):
    line = edit(runbook, "### Timeout\n", "### Slow run\n")
    common_line = runbook.read_text()[: runbook.read_text().index("## Common issues")].count("\n") + 1
    problems = problems_of(reload(project_copy))
    assert any(
        p.startswith(f"{RUNBOOK}:{common_line}: no common-issue section with anchor #timeout")
        and "failure class 'timeout'" in p
        for p in problems
    ), problems
    # the renamed section and the links to the old anchor are reported too
    assert any(p.startswith(f"{RUNBOOK}:") and "broken anchor '#timeout'" in p for p in problems)
    assert line > common_line


def test_missing_brief_failure_mode_section(runbook, project_copy):
    edit(runbook, "### Salary duplicates\n", "### Payroll\n")
    problems = problems_of(reload(project_copy))
    assert any("#salary-duplicates" in p and "the brief's failure mode 'Salary duplicates'" in p for p in problems), problems


def test_issue_without_a_fix_part(runbook, project_copy):
    text = runbook.read_text()
    heading_line = text[: text.index("### Expense spike")].count("\n") + 1
    fix_start = text.index("**Fix.**", text.index("### Expense spike"))
    edit(runbook, text[fix_start: fix_start + len("**Fix.**")] + text[fix_start + 8: text.index("\n", fix_start)], "")
    problems = problems_of(reload(project_copy))
    assert f"{RUNBOOK}:{heading_line}: common issue 'Expense spike' has no '**Fix.**' part" in problems


def test_stale_generated_block_names_the_line_and_regenerates(runbook, project_copy):
    line = edit(runbook, "| Criticality | high |", "| Criticality | medium |")
    registry = reload(project_copy)
    problems = problems_of(registry)
    assert problems == [
        f"{RUNBOOK}:{line}: generated block 'details' is out of date (expected '| Criticality | high |', "
        "found '| Criticality | medium |'); run `techflow-ops runbooks generate`"
    ]
    assert generate_all(registry, ["profit"]) == [runbook]
    assert problems_of(registry) == []
    assert generate_all(registry, ["profit"]) == []  # idempotent


def test_registry_change_makes_block_stale(project_copy):
    pipelines = project_copy / "config" / "pipelines.yaml"
    edit(pipelines, "owners: {primary: priya, secondary: marcus}", "owners: {primary: sofia, secondary: marcus}")
    registry = reload(project_copy)
    problems = problems_of(registry)
    assert len(problems) == 2, problems
    assert "generated block 'details' is out of date" in problems[0] and "Sofia Alvarez" in problems[0]
    assert "generated block 'escalation' is out of date" in problems[1] and "Sofia Alvarez" in problems[1]
    generate_all(registry, ["profit"])
    assert "| Primary owner | Sofia Alvarez" in (project_copy / RUNBOOK).read_text()
    assert problems_of(registry) == []


def test_generate_adds_a_missing_block_under_its_section(runbook, project_copy):
    text = runbook.read_text()
    start = text.index("<!-- BEGIN GENERATED: sla -->")
    end = text.index("<!-- END GENERATED: sla -->") + len("<!-- END GENERATED: sla -->\n")
    runbook.write_text(text[:start] + text[end:])
    registry = reload(project_copy)
    assert any("generated block 'sla' is missing" in p for p in problems_of(registry))
    generate_all(registry, ["profit"])
    assert problems_of(registry) == []


def test_unclosed_generated_block(runbook, project_copy):
    line = edit(runbook, "<!-- END GENERATED: sla -->\n", "")
    begin = runbook.read_text()[: runbook.read_text().index("<!-- BEGIN GENERATED: sla -->")].count("\n") + 1
    problems = problems_of(reload(project_copy))
    assert any(p.startswith(f"{RUNBOOK}:{begin}: generated block 'sla' has no END GENERATED marker") for p in problems), problems
    assert line > begin


def test_broken_anchor(runbook, project_copy):
    line = edit(runbook, "[Revenue mismatch](#revenue-mismatch)", "[Revenue mismatch](#revenue-mismatches)")
    assert problems_of(reload(project_copy)) == [
        f"{RUNBOOK}:{line}: broken anchor '#revenue-mismatches': no heading with anchor #revenue-mismatches in this runbook"
    ]


def test_broken_link_to_another_runbook_and_its_anchor(runbook, project_copy):
    line = edit(runbook, "See [Escalation path](#escalation-path).", "See [growth](growth.md#no-such-section) and [x](nothere.md).")
    problems = problems_of(reload(project_copy))
    assert f"{RUNBOOK}:{line}: broken anchor 'growth.md#no-such-section': no heading with anchor #no-such-section in include/runbooks/growth.md" in problems
    assert f"{RUNBOOK}:{line}: broken link 'nothere.md': include/runbooks/nothere.md does not exist" in problems


def test_unknown_table_in_data_section(runbook, project_copy):
    line = edit(runbook, "| `stg_ledger` |", "| `stg_general_ledger` |")
    assert problems_of(reload(project_copy)) == [
        f"{RUNBOOK}:{line}: unknown warehouse table `stg_general_ledger` (not defined in techflow_ops.pipelines.warehouse)"
    ]


def test_output_table_missing_from_data_section(runbook, project_copy):
    text = runbook.read_text()
    row_start = text.index("| `profit_monthly` |")
    edit(runbook, text[row_start: text.index("\n", row_start) + 1], "")
    data_line = runbook.read_text()[: runbook.read_text().index("## Data")].count("\n") + 1
    assert f"{RUNBOOK}:{data_line}: output table `profit_monthly` is not listed in the Data section's table" in problems_of(reload(project_copy))


def test_unknown_table_and_column_in_sql(runbook, project_copy):
    line = edit(runbook, "FROM profit_monthly WHERE month = '$MONTH'\"\n# Accounts", "FROM profit_monthy WHERE month = '$MONTH'\"\n# Accounts")
    column_line = edit(runbook, "SELECT team_id, salary_month, COUNT(*)", "SELECT team, salary_month, COUNT(*)")
    problems = problems_of(reload(project_copy))
    assert any(p.startswith(f"{RUNBOOK}:{line}: SQL does not run against the warehouse schema (no such table: profit_monthy)") for p in problems), problems
    assert any(p.startswith(f"{RUNBOOK}:{column_line}: SQL does not run against the warehouse schema (no such column: team)") for p in problems), problems
    assert len(problems) == 2


def test_unknown_techflow_ops_command(runbook, project_copy):
    line = edit(runbook, "## Escalation path\n", "Run `techflow-ops runbooks regenerate` first.\n\n## Escalation path\n")
    problems = problems_of(reload(project_copy))
    assert len(problems) == 1
    assert problems[0].startswith(f"{RUNBOOK}:{line}: unknown or invalid command `techflow-ops runbooks regenerate`: ")
    assert "invalid choice: 'regenerate'" in problems[0]


def test_bad_option_of_techflow_ops_command(runbook, project_copy):
    line = edit(runbook, "## Escalation path\n", "```bash\ntechflow-ops runbooks check --pipelines profit\n```\n\n## Escalation path\n")
    problems = problems_of(reload(project_copy))
    assert len(problems) == 1 and problems[0].startswith(f"{RUNBOOK}:{line + 1}: unknown or invalid command") and "--pipelines" in problems[0]


def test_unknown_airflow_command_and_program(runbook, project_copy):
    line = edit(runbook, "airflow jobs check --job-type SchedulerJob", "airflow dags rerun profit\nkubectl get pods")
    problems = problems_of(reload(project_copy))
    assert problems == [
        f"{RUNBOOK}:{line}: unknown Airflow command `airflow dags rerun profit`: 'airflow dags' takes one of "
        "['clear', 'details', 'list', 'list-import-errors', 'list-runs', 'next-execution', 'pause', 'report', "
        "'reserialize', 'show', 'state', 'test', 'trigger', 'unpause'], not rerun",
        f"{RUNBOOK}:{line + 1}: unknown program 'kubectl' (runbooks may run: airflow, cat, grep, head, ls, sqlite3, tail, techflow-ops, wc)",
    ]


def test_undefined_shell_variable(runbook, project_copy):
    line = edit(runbook, "airflow dags list-runs profit --state failed", "airflow dags list-runs profit --state $STATE")
    assert problems_of(reload(project_copy)) == [f"{RUNBOOK}:{line}: shell variable $STATE is used but never assigned in this runbook"]


def test_duplicate_heading(runbook, project_copy):
    line = edit(runbook, "### Zero subscribers\n", "### Expense spike\n")
    problems = problems_of(reload(project_copy))
    assert any(p.startswith(f"{RUNBOOK}:{line}: heading 'Expense spike' has the same anchor #expense-spike") for p in problems), problems


def test_cli_exit_codes_and_messages(project_copy, runbook):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cli = [str(Path(sys.executable).parent / "techflow-ops"), "runbooks", "check", "--config-dir", str(project_copy / "config"), "--root", str(project_copy)]
    ok = subprocess.run(cli + ["--pipeline", "profit"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "runbooks: OK" in ok.stdout
    line = edit(runbook, "| `stg_salaries` |", "| `stg_payroll` |")
    bad = subprocess.run(cli + ["--pipeline", "profit"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1
    assert f"{RUNBOOK}:{line}: unknown warehouse table `stg_payroll`" in bad.stderr
    unknown = subprocess.run(cli + ["--pipeline", "revenue"], capture_output=True, text=True, env=env)
    assert unknown.returncode == 1 and "'revenue'" in unknown.stderr and "unknown pipeline" in unknown.stderr



def test_underlined_heading_is_rejected(runbook, project_copy):
    line = edit(runbook, "## Data\n", "Data\n----\n")
    problems = problems_of(reload(project_copy))
    assert f"{RUNBOOK}:{line}: write headings as '## Title' on one line (no underlined or HTML headings), so their anchors are stable" in problems


def test_check_all_reports_every_runbook(project_copy):
    for pipeline_id in ("growth", "engagement"):
        edit(project_copy / f"include/runbooks/{pipeline_id}.md", "## Data\n", "## Datasets\n")
    problems = [str(p) for p in check_all(reload(project_copy), parser=build_parser())]
    for pipeline_id in ("growth", "engagement"):
        assert any(p.startswith(f"include/runbooks/{pipeline_id}.md:") and "required section '## Data' is missing" in p for p in problems)


def test_unknown_column_or_quality_check_in_prose(runbook, project_copy):
    line = edit(runbook, "`stg_salaries.team_month_unique` fails.", "`stg_salaries.team_month_unique` or `stg_salaries.team_unique` fails.")
    assert problems_of(reload(project_copy)) == [
        f"{RUNBOOK}:{line}: `stg_salaries.team_unique`: `team_unique` is neither a column of warehouse table `stg_salaries` nor one of its quality checks"
    ]


def test_sqlite3_must_open_the_warehouse(runbook, project_copy):
    line = edit(runbook, "WAREHOUSE=$DATA/warehouse.db", "WAREHOUSE=$DATA/other.db")
    problems = problems_of(reload(project_copy))
    assert problems and all("sqlite3 must open the warehouse file 'data/warehouse.db'" in p for p in problems)
    assert line < int(problems[0].split(":")[1])


def test_unknown_table_in_prose(runbook, project_copy):
    line = edit(runbook, "transformed into `profit_daily_account` and", "transformed into `profit_per_account_daily` and")
    assert problems_of(reload(project_copy)) == [
        f"{RUNBOOK}:{line}: unknown warehouse table `profit_per_account_daily` (not defined in techflow_ops.pipelines.warehouse)"
    ]

