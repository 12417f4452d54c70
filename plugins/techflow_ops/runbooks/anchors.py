"""Heading anchors: one slug rule shared by the check, the DAG docs and the UI renderer.

A runbook section is addressed by the slug of its heading text, computed the way GitHub
does it (lower-case, punctuation dropped, spaces to hyphens), so `### Kafka outage` is
`#kafka-outage` on GitHub, in the Airflow UI and in `runbook_url(pipeline, anchor)`.
"""

from __future__ import annotations

import re

_NOT_SLUG = re.compile(r"[^\w\- ]", re.UNICODE)


def slugify(heading_text: str) -> str:
    """`Divide-by-zero and missing values` -> `divide-by-zero-and-missing-values`."""
    return _NOT_SLUG.sub("", heading_text.strip().lower()).replace(" ", "-")


def unique_slug(slug: str, seen: dict[str, int]) -> str:
    """GitHub's rule for repeated headings: the second `foo` becomes `foo-1`."""
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


def heading_text(inline_token) -> str:
    """The plain text of a heading's inline token (code spans keep their content)."""
    return "".join(child.content for child in inline_token.children or () if child.type in ("text", "code_inline"))


def heading_ids(md) -> None:
    """markdown-it-py plugin: give every heading `id="<slug>"` so `#anchor` links land.

    Usage: `MarkdownIt("commonmark").use(heading_ids)`. A sanitiser must then keep `id`
    on h1-h6 (nh3: `attributes={"h2": {"id"}, "h3": {"id"}, ...}`).
    """

    def add_ids(state) -> None:
        seen: dict[str, int] = {}
        tokens = state.tokens
        for index, token in enumerate(tokens):
            if token.type == "heading_open" and index + 1 < len(tokens):
                token.attrSet("id", unique_slug(slugify(heading_text(tokens[index + 1])), seen))

    md.core.ruler.push("techflow_heading_ids", add_ids)
