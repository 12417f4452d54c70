"""Runbook Markdown to safe HTML.

Two layers, so a mistake in one does not open a hole: markdown-it renders with raw HTML
disabled (tags in the Markdown come out as text), then nh3 keeps only an allow-list of
tags, attributes and URL schemes (no script, no event handlers, no `javascript:` links).

Heading ids come from the runbooks area's `heading_ids`, the anchor rule
`techflow-ops runbooks check` enforces, so a `#anchor` a page links to is the id rendered
here. Runbooks link to each other as `growth.md#anchor` (right on GitHub); on the plugin's
page that relative path would resolve to `/techflow/runbooks/growth.md`, so the caller
supplies where such a link really leads.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import nh3
from markdown_it import MarkdownIt

from ..runbooks.anchors import heading_ids

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

MarkdownLink = Callable[[str, str], str | None]
"""(relative `.md` path as written, fragment) -> the URL to use instead, or None to keep the link."""


def _relative_markdown_target(href: str) -> tuple[str, str] | None:
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
        return None
    path = unquote(parts.path)
    return (path, unquote(parts.fragment)) if path.endswith(".md") else None


def _markdown_links(md: MarkdownIt) -> None:
    """markdown-it-py plugin: relative `*.md` links go where `env["markdown_link"]` says."""

    def rewrite(state) -> None:
        markdown_link: MarkdownLink | None = state.env.get("markdown_link")
        if markdown_link is None:
            return
        for block in state.tokens:
            for token in block.children or ():
                if token.type != "link_open":
                    continue
                target = _relative_markdown_target(str(token.attrGet("href") or ""))
                url = markdown_link(*target) if target else None
                if url:
                    token.attrSet("href", url)

    md.core.ruler.push("techflow_markdown_links", rewrite)


_MD = (
    MarkdownIt("commonmark", {"html": False, "linkify": False})
    .enable("table")
    .enable("strikethrough")
    .use(heading_ids)
    .use(_markdown_links)
)


def render_runbook(markdown_text: str, markdown_link: MarkdownLink | None = None) -> str:
    html = _MD.render(markdown_text, {"markdown_link": markdown_link})
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes=_ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
