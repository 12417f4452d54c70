"""Runbook Markdown to safe HTML.

Two layers, so a mistake in one does not open a hole: markdown-it renders with raw HTML
disabled (tags in the Markdown come out as text), then nh3 keeps only an allow-list of
tags, attributes and URL schemes (no script, no event handlers, no `javascript:` links).
"""

from __future__ import annotations

import re
import unicodedata

import nh3
from markdown_it import MarkdownIt

_ALLOWED_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "blockquote", "pre", "code", "em", "strong", "del",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "img",
}
_ALLOWED_ATTRIBUTES = {
    **{f"h{level}": {"id"} for level in range(1, 7)},
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"style"},
    "td": {"style"},
    "ol": {"start"},
    "code": {"class"},
}
_ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


def heading_anchor(text: str) -> str:
    """GitHub-style slug ('Kafka outage' -> 'kafka-outage'), the anchors runbook links point at."""
    text = unicodedata.normalize("NFKD", text).lower()
    text = re.sub(r"[^\w\s-]", "", text).strip()
    return re.sub(r"\s+", "-", text)


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")

    def heading_open(renderer, tokens, idx, options, env):
        inline = tokens[idx + 1]
        anchor = heading_anchor(inline.content)
        seen = env.setdefault("anchors", {})
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        tokens[idx].attrSet("id", anchor if count == 0 else f"{anchor}-{count}")
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("heading_open", heading_open)
    return md


_MD = _markdown()


def render_runbook(markdown_text: str) -> str:
    html = _MD.render(markdown_text, {})
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes=_ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
