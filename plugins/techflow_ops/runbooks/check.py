"""`techflow-ops runbooks check|generate`: keep each runbook complete, linked and true.

A problem names the runbook file, the line and what is wrong. `generate` rewrites only
the generated blocks; everything outside them stays as written by hand.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..escalation import policy
from ..failures import FAILURE_MODES
from ..registry import Pipeline, Registry
from .anchors import slugify
from .catalogue import COMMON_ISSUES, ISSUE_PARTS, REQUIRED_SECTIONS, required_issues
from .commands import SHELL_LANGUAGES, CommandChecker, quality_checks, warehouse_columns, warehouse_tables
from .document import RunbookDocument, parse_file, parse_text
from .facts import BLOCK_RENDERERS, render_block

DATA_SECTION = "data"
_PART_LABEL = re.compile(r"^\*\*(" + "|".join(re.escape(p) for p in ISSUE_PARTS) + r")\b")
_COMMAND_SPAN = re.compile(r"^(techflow-ops|airflow|sqlite3)\s")
_QUALIFIED = re.compile(r"^([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)$")
_TABLE_LIKE = re.compile(r"^(stg_[a-z0-9_]+|[a-z0-9_]+_(daily|weekly|monthly)(_[a-z0-9_]+)?)$")


@dataclass(frozen=True)
class RunbookProblem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


class _Report:
    def __init__(self, doc: RunbookDocument, root: Path):
        self.file = _display(doc.path, root)
        self.problems: list[RunbookProblem] = []

    def add(self, line: int, message: str) -> None:
        self.problems.append(RunbookProblem(self.file, line, message))


def check_runbook(registry: Registry, pipeline: Pipeline, doc: RunbookDocument | None = None, *,
                  parser: argparse.ArgumentParser) -> list[RunbookProblem]:
    """Every problem of the pipeline's runbook; `parser` is the `techflow-ops` command parser
    (`techflow_ops.cli.build_parser()`) its commands are checked against."""
    path = registry.runbook_path(pipeline)
    if doc is None:
        if not path.is_file():
            return [RunbookProblem(_display(path, registry.project_root), 1, f"runbook of pipeline '{pipeline.id}' not found")]
        doc = parse_file(path)
    report = _Report(doc, registry.project_root)
    for line, message in doc.marker_problems:
        report.add(line, message)
    _check_headings(doc, report)
    _check_sections(doc, report)
    _check_issues(doc, pipeline, report)
    _check_promised_routes(registry, doc, report)
    _check_blocks(registry, pipeline, doc, report)
    _check_tables(pipeline, doc, report)
    _check_qualified_names(doc, report)
    _check_commands(doc, report, parser)
    _check_links(registry, doc, report)
    return sorted(report.problems, key=lambda p: (p.file, p.line))


def check_all(registry: Registry, pipeline_ids: list[str] | None = None, *,
              parser: argparse.ArgumentParser) -> list[RunbookProblem]:
    problems: list[RunbookProblem] = []
    for pipeline_id in pipeline_ids or list(registry.pipelines):
        problems += check_runbook(registry, registry.pipelines[pipeline_id], parser=parser)
    return problems


def _check_headings(doc: RunbookDocument, report: _Report) -> None:
    first_seen: dict[str, int] = {}
    for heading in doc.headings:
        slug = slugify(heading.text)
        if slug in first_seen:
            report.add(heading.line, f"heading '{heading.text}' has the same anchor #{slug} as the heading on line {first_seen[slug]}; anchors must be unique")
        first_seen.setdefault(slug, heading.line)


def _check_sections(doc: RunbookDocument, report: _Report) -> None:
    present = {s.heading.anchor: s for s in doc.sections(2)}
    for index, required in enumerate(REQUIRED_SECTIONS):
        if required.anchor in present:
            continue
        following = next((present[r.anchor] for r in REQUIRED_SECTIONS[index + 1:] if r.anchor in present), None)
        if following:
            report.add(following.heading.line, f"required section '## {required.title}' is missing (it goes before '## {following.heading.text}')")
        else:
            report.add(len(doc.lines) or 1, f"required section '## {required.title}' is missing (it goes at the end)")


def _check_issues(doc: RunbookDocument, pipeline: Pipeline, report: _Report) -> None:
    common = doc.section(COMMON_ISSUES)
    issues = {s.heading.anchor: s for s in doc.subsections(common, 3)} if common else {}
    where = common.heading.line if common else 1
    for anchor, why in required_issues(pipeline):
        if anchor not in issues:
            report.add(where, f"no common-issue section with anchor #{anchor} (a '### ...' heading under 'Common issues') for {why}")
    for issue in issues.values():
        found = set()
        for number in range(issue.heading.line, issue.end_line + 1):
            match = _PART_LABEL.match(doc.lines[number - 1])
            if match:
                found.add(match.group(1))
        for part in ISSUE_PARTS:
            if part not in found:
                report.add(issue.heading.line, f"common issue '{issue.heading.text}' has no '**{part}.**' part")


_AT_ONCE = re.compile(r"\b(at once|immediately)\b", re.I)
_CODE = re.compile(r"`([a-z_]+)`")


def _check_promised_routes(registry: Registry, doc: RunbookDocument, report: _Report) -> None:
    """An `**Escalate.**` line that promises a team hears "at once" must name the failure mode
    (in backticks) and that mode must have an `immediately` route in escalation.yaml: the
    runbook cannot promise what the policy does not do."""
    routes = policy.load_policy(registry.config_dir, registry).routes
    for number, line in enumerate(doc.lines, start=1):
        if not line.startswith("**Escalate.**") or not _AT_ONCE.search(line):
            continue
        modes = [m for m in _CODE.findall(line) if m in FAILURE_MODES]
        if not modes:
            report.add(number, "says a team hears at once but names no failure mode (`mode`) to check against "
                               "escalation.yaml routes")
        for mode in modes:
            route = routes.get(mode)
            if route is None or route.when != "immediately":
                report.add(number, f"says `{mode}` goes out at once, but escalation.yaml has no `immediately` route for it"
                                   + (f" (its route is {route.when} to {route.team})" if route else ""))


def _check_blocks(registry: Registry, pipeline: Pipeline, doc: RunbookDocument, report: _Report) -> None:
    seen: set[str] = set()
    for block in doc.blocks:
        if block.name not in BLOCK_RENDERERS:
            report.add(block.begin_line, f"unknown generated block '{block.name}' (known: {', '.join(BLOCK_RENDERERS)})")
            continue
        if block.name in seen:
            report.add(block.begin_line, f"generated block '{block.name}' appears twice")
        seen.add(block.name)
        if block.end_line is None:
            continue
        expected = render_block(block.name, registry, pipeline)
        if block.body != expected:
            line, detail = _first_difference(block.begin_line, block.body, expected)
            report.add(line, f"generated block '{block.name}' is out of date ({detail}); run `techflow-ops runbooks generate`")
    for required in REQUIRED_SECTIONS:
        if required.block is None:
            continue
        block = doc.block(required.block)
        section = doc.section(required.anchor)
        if block is None:
            report.add(section.heading.line if section else 1, f"generated block '{required.block}' is missing (it belongs in '## {required.title}'); run `techflow-ops runbooks generate`")
        elif section and not section.contains(block.begin_line):
            report.add(block.begin_line, f"generated block '{required.block}' belongs in '## {required.title}' (line {section.heading.line})")


def _first_difference(begin_line: int, actual: list[str], expected: list[str]) -> tuple[int, str]:
    for offset, (have, want) in enumerate(zip(actual, expected)):
        if have != want:
            return begin_line + 1 + offset, f"expected {want!r}, found {have!r}"
    if len(actual) > len(expected):
        return begin_line + 1 + len(expected), f"unexpected extra line {actual[len(expected)]!r}"
    return begin_line + 1 + len(actual), f"missing line {expected[len(actual)]!r}"


def _check_tables(pipeline: Pipeline, doc: RunbookDocument, report: _Report) -> None:
    known = warehouse_tables()
    data = doc.section(DATA_SECTION)
    listed: set[str] = set()
    for cell in doc.table_first_cells:
        if data and data.contains(cell.line):
            listed.add(cell.text)
            if cell.text not in known:
                report.add(cell.line, f"unknown warehouse table `{cell.text}` (not defined in techflow_ops.pipelines.warehouse)")
    details = doc.block("details")
    for output in pipeline.outputs:
        if output.table not in known:
            report.add(details.begin_line if details else 1, f"output table `{output.table}` of pipeline '{pipeline.id}' (include/config/pipelines.yaml) is not a warehouse table")
        if data and output.table not in listed:
            report.add(data.heading.line, f"output table `{output.table}` is not listed in the Data section's table")


def _check_qualified_names(doc: RunbookDocument, report: _Report) -> None:
    """`table.column` and `dataset.check` code spans must name a real column or quality check;
    a bare span that looks like a table name (`stg_*`, `*_daily*`, `*_weekly*`, `*_monthly*`)
    must be a table, a column or a quality check."""
    tables, checks = warehouse_tables(), quality_checks()
    known_names = tables | {c for t in tables for c in warehouse_columns(t)} | {c for names in checks.values() for c in names}
    data_cells = set(doc.table_first_cells)  # reported by _check_tables
    for code in doc.inline_code:
        if code in data_cells:
            continue
        if _TABLE_LIKE.match(code.text) and code.text not in known_names:
            report.add(code.line, f"unknown warehouse table `{code.text}` (not defined in techflow_ops.pipelines.warehouse)")
            continue
        match = _QUALIFIED.match(code.text)
        if not match or match.group(1) not in tables:
            continue
        table, name = match.groups()
        if name not in warehouse_columns(table) and name not in checks.get(table, ()):
            report.add(code.line, f"`{code.text}`: `{name}` is neither a column of warehouse table `{table}` nor one of its quality checks")


def _check_commands(doc: RunbookDocument, report: _Report, parser: argparse.ArgumentParser) -> None:
    checker = CommandChecker(parser)
    shell_blocks = [c for c in doc.fences if c.language in SHELL_LANGUAGES]
    checker.collect_assignments(shell_blocks)
    for code in shell_blocks:
        checker.check_shell_block(code.text, code.line)
    for code in doc.fences:
        if code.language == "sql":
            checker.check_sql_block(code.text, code.line)
    for code in doc.inline_code:
        if _COMMAND_SPAN.match(code.text):
            checker.check_command(code.text, code.line)
    for line, message in checker.problems:
        report.add(line, message)


def _check_links(registry: Registry, doc: RunbookDocument, report: _Report) -> None:
    for link in doc.links:
        parts = urlsplit(link.target)
        if parts.scheme in ("http", "https", "mailto"):
            continue  # outside this project; not reachable from here to check
        if parts.scheme:
            report.add(link.line, f"link {link.target!r}: scheme '{parts.scheme}' is not allowed in runbooks")
            continue
        anchor = unquote(parts.fragment) if parts.fragment else None
        if not parts.path:
            if anchor and anchor not in doc.anchors:
                report.add(link.line, f"broken anchor {link.target!r}: no heading with anchor #{anchor} in this runbook")
            continue
        target = (doc.path.parent / unquote(parts.path)).resolve()
        if not target.exists():
            report.add(link.line, f"broken link {link.target!r}: {_display(target, registry.project_root)} does not exist")
            continue
        if anchor:
            if target.suffix != ".md":
                report.add(link.line, f"link {link.target!r}: anchors are only checked into Markdown files")
            elif anchor not in parse_file(target).anchors:
                report.add(link.line, f"broken anchor {link.target!r}: no heading with anchor #{anchor} in {_display(target, registry.project_root)}")


def regenerate_text(text: str, path: Path, registry: Registry, pipeline: Pipeline) -> str:
    """`text` with every generated block re-rendered; a missing required block is added under its section."""
    doc = parse_text(text, path)
    if doc.marker_problems:
        line, message = doc.marker_problems[0]
        raise ValueError(f"{path}:{line}: {message}; fix the markers by hand first")
    lines = list(doc.lines)
    replacements: list[tuple[int, int, list[str]]] = []
    for block in doc.blocks:
        if block.name in BLOCK_RENDERERS and block.end_line is not None:
            replacements.append((block.begin_line, block.end_line - 1, render_block(block.name, registry, pipeline)))
    for required in REQUIRED_SECTIONS:
        if required.block and doc.block(required.block) is None:
            section = doc.section(required.anchor)
            if section is None:
                raise ValueError(f"{path}:1: required section '## {required.title}' is missing; add it by hand, then generate")
            body = ["", f"<!-- BEGIN GENERATED: {required.block} -->", *render_block(required.block, registry, pipeline), f"<!-- END GENERATED: {required.block} -->"]
            replacements.append((section.heading.line, section.heading.line, body))
    for start, stop, body in sorted(replacements, reverse=True):
        lines[start:stop] = body
    return "\n".join(lines) + "\n"


def generate_all(registry: Registry, pipeline_ids: list[str] | None = None) -> list[Path]:
    """Rewrite the generated blocks of each runbook; return the files that changed."""
    changed = []
    for pipeline_id in pipeline_ids or list(registry.pipelines):
        pipeline = registry.pipelines[pipeline_id]
        path = registry.runbook_path(pipeline)
        text = path.read_text(encoding="utf-8")
        new_text = regenerate_text(text, path, registry, pipeline)
        if new_text != text:
            path.write_text(new_text, encoding="utf-8")
            changed.append(path)
    return changed
