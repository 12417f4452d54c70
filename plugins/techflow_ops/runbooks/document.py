"""A runbook file parsed once: headings with anchors and lines, sections, generated blocks,
code (fenced and inline), links and Data-table entries, each with its 1-based line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .anchors import heading_text, slugify, unique_slug

BEGIN_MARKER = re.compile(r"^<!--\s*BEGIN GENERATED:\s*([a-z_]+)\s*-->\s*$")
END_MARKER = re.compile(r"^<!--\s*END GENERATED(?::\s*([a-z_]+))?\s*-->\s*$")
_EXPLICIT_ID = re.compile(r"""<a\s+(?:id|name)=["']([^"']+)["']""")


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str
    line: int


@dataclass(frozen=True)
class Section:
    heading: Heading
    end_line: int  # last line of the section (inclusive)

    def contains(self, line: int) -> bool:
        return self.heading.line <= line <= self.end_line


@dataclass(frozen=True)
class GeneratedBlock:
    name: str
    begin_line: int  # the BEGIN marker's line
    end_line: int | None  # the END marker's line; None when the block is never closed
    body: list[str]  # the lines between the markers


@dataclass(frozen=True)
class Code:
    text: str
    line: int
    language: str  # fence info ("bash", "sql", ...); "inline" for code spans


@dataclass(frozen=True)
class Link:
    target: str
    line: int


@dataclass
class RunbookDocument:
    path: Path
    lines: list[str]
    headings: list[Heading] = field(default_factory=list)
    blocks: list[GeneratedBlock] = field(default_factory=list)
    marker_problems: list[tuple[int, str]] = field(default_factory=list)
    fences: list[Code] = field(default_factory=list)
    inline_code: list[Code] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    table_first_cells: list[Code] = field(default_factory=list)  # code spans in a table's first column
    explicit_ids: set[str] = field(default_factory=set)

    @property
    def anchors(self) -> set[str]:
        return {h.anchor for h in self.headings} | self.explicit_ids

    @property
    def title(self) -> str:
        return next((h.text for h in self.headings if h.level == 1), self.path.stem)

    def sections(self, level: int) -> list[Section]:
        """Every heading of `level` with the line its section ends on (before the next heading of that level or higher)."""
        result = []
        for index, heading in enumerate(self.headings):
            if heading.level != level:
                continue
            following = (h.line - 1 for h in self.headings[index + 1:] if h.level <= level)
            result.append(Section(heading, next(following, len(self.lines))))
        return result

    def section(self, anchor: str, level: int = 2) -> Section | None:
        return next((s for s in self.sections(level) if s.heading.anchor == anchor), None)

    def subsections(self, parent: Section, level: int) -> list[Section]:
        return [s for s in self.sections(level) if parent.contains(s.heading.line)]

    def block(self, name: str) -> GeneratedBlock | None:
        return next((b for b in self.blocks if b.name == name), None)

    def intro_paragraph(self) -> str:
        """The first paragraph after the title: the runbook's one-line purpose."""
        paragraph: list[str] = []
        started = False
        for line in self.lines:
            if line.startswith("# "):
                started = True
                continue
            if not started:
                continue
            if line.strip() and not line.startswith(("#", "<!--", "|", "```")):
                paragraph.append(line.strip())
            elif paragraph or line.startswith("#"):
                break
        return " ".join(paragraph)


_ATX_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_CODE_SPAN = re.compile(r"`([^`]*)`")


def outline(lines: list[str]) -> list[Heading]:
    """ATX headings outside fenced code, without a Markdown parser: cheap enough for DAG parse time.

    `parse_text` cross-checks it against markdown-it, so a heading this misses is reported.
    """
    headings: list[Heading] = []
    seen: dict[str, int] = {}
    fence: str | None = None
    for number, line in enumerate(lines, start=1):
        fence_match = _FENCE.match(line)
        if fence_match:
            if fence is None:
                fence = fence_match.group(1)
            elif fence_match.group(1) == fence:
                fence = None
            continue
        if fence is not None:
            continue
        match = _ATX_HEADING.match(line)
        if match:
            text = _CODE_SPAN.sub(r"\1", match.group(2))
            headings.append(Heading(len(match.group(1)), text, unique_slug(slugify(text), seen), number))
    return headings


def parse_outline(path: Path) -> RunbookDocument:
    """Title, intro and headings only (no markdown-it): what `runbook_summary` needs."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return RunbookDocument(path=path, lines=lines, headings=outline(lines))


@lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table")


def _line_of(needle: str, lines: list[str], start: int, end: int) -> int:
    """The 1-based line within [start, end) (0-based) holding `needle`; the block's first line if none does."""
    for index in range(start, min(end, len(lines))):
        if needle in lines[index]:
            return index + 1
    return start + 1


def _scan_blocks(doc: RunbookDocument) -> None:
    open_block: tuple[str, int] | None = None
    body: list[str] = []
    for number, line in enumerate(doc.lines, start=1):
        begin, end = BEGIN_MARKER.match(line), END_MARKER.match(line)
        if begin:
            if open_block:
                doc.marker_problems.append((open_block[1], f"generated block '{open_block[0]}' has no END GENERATED marker (the next block starts on line {number})"))
                doc.blocks.append(GeneratedBlock(open_block[0], open_block[1], None, body))
            open_block, body = (begin.group(1), number), []
        elif end:
            if not open_block:
                doc.marker_problems.append((number, "END GENERATED marker without a BEGIN GENERATED marker"))
                continue
            if end.group(1) and end.group(1) != open_block[0]:
                doc.marker_problems.append((number, f"END GENERATED: {end.group(1)} closes block '{open_block[0]}' opened on line {open_block[1]}"))
            doc.blocks.append(GeneratedBlock(open_block[0], open_block[1], number, body))
            open_block, body = None, []
        elif open_block:
            body.append(line)
    if open_block:
        doc.marker_problems.append((open_block[1], f"generated block '{open_block[0]}' has no END GENERATED marker"))
        doc.blocks.append(GeneratedBlock(open_block[0], open_block[1], None, body))


def parse_text(text: str, path: Path) -> RunbookDocument:
    lines = text.splitlines()
    doc = RunbookDocument(path=path, lines=lines, headings=outline(lines))
    _scan_blocks(doc)
    tokens = _markdown().parse(text)
    outlined = {h.line: h for h in doc.headings}
    first_cell = False
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            line = token.map[0] + 1
            if line not in outlined or outlined[line].text != heading_text(tokens[index + 1]):
                doc.marker_problems.append((line, "write headings as '## Title' on one line (no underlined or HTML headings), so their anchors are stable"))
        elif token.type == "fence":
            doc.fences.append(Code(token.content, token.map[0] + 2, token.info.strip().split(" ")[0] or "text"))
        elif token.type == "html_block":
            for match in _EXPLICIT_ID.finditer(token.content):
                doc.explicit_ids.add(match.group(1))
        elif token.type == "tr_open":
            first_cell = True
        elif token.type in ("td_close", "th_close"):
            first_cell = False
        elif token.type == "inline" and token.map:
            start, end = token.map
            for child in token.children or ():
                if child.type == "code_inline":
                    code = Code(child.content, _line_of(f"`{child.content}`", lines, start, end), "inline")
                    doc.inline_code.append(code)
                    if first_cell and tokens[index - 1].type == "td_open":
                        doc.table_first_cells.append(code)
                elif child.type == "link_open":
                    href = child.attrs.get("href", "")
                    doc.links.append(Link(str(href), _line_of(f"]({href}", lines, start, end)))
                elif child.type == "html_inline":
                    for match in _EXPLICIT_ID.finditer(child.content):
                        doc.explicit_ids.add(match.group(1))
    return doc


def parse_file(path: Path) -> RunbookDocument:
    return parse_text(path.read_text(encoding="utf-8"), path)
