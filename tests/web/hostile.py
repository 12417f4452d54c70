"""Hostile strings and a checker that a rendered page holds nothing executable."""

from __future__ import annotations

from html.parser import HTMLParser

SCRIPT_NAME = '<script>alert("name")</script>Priya'
IMG_TEAM = '<img src=x onerror=alert("team")>Finance'
HOSTILE_RUNBOOK = """# Runbook: profit

<script>alert("runbook")</script>

## Kafka outage

[click me](javascript:alert("link")) and <a href="javascript:alert('raw')">raw link</a>

<img src="x" onerror="alert('img')"> <div onmouseover="alert('div')">hover</div>

![pixel](javascript:alert("img-md"))

[safe](https://example.com/runbook) and [anchor](#kafka-outage)
"""


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


def executable_parts(html: str) -> list[str]:
    """Script elements, event-handler attributes and javascript: URLs found in `html`."""
    collector = _Collector()
    collector.feed(html)
    found = []
    for tag, attrs in collector.tags:
        if tag in ("script", "iframe", "object", "embed"):
            found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                found.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action", "formaction") and value and value.strip().lower().startswith(
                ("javascript:", "data:", "vbscript:")
            ):
                found.append(f"<{tag} {name}={value}>")
    return found


def visible_text(html: str) -> str:
    collector = _Collector()
    collector.feed(html)
    return "".join(collector.text)
