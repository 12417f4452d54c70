"""Runbook pages: heading ids follow the runbooks area's anchor rule (the one
`techflow-ops runbooks check` enforces), and links between runbooks land on the plugin's
page for that runbook, on the section they name."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from techflow_ops import links
from techflow_ops.failures import RUNBOOK_ANCHORS, failure_classes_for
from techflow_ops.registry import get_registry
from techflow_ops.runbooks.document import parse_file, parse_text
from techflow_ops.web.runbook_html import render_runbook

from .conftest import bearer
from .hostile import executable_parts

SHIPPED_PIPELINES = ["profit", "growth", "engagement", "executive_investor", "experiment_team"]
_HREF = re.compile(r'<a href="([^"]*)"')
_ID = re.compile(r'<h[1-6] id="([^"]*)"')

# Headings where a home-made slug rule drifts from GitHub's (the runbooks area's rule):
# punctuation between spaces, double spaces, code spans, non-ASCII letters, repeats.
AWKWARD_HEADINGS = """# Runbook: awkward

## Backfill / re-run

## Two  spaces

## `revenue` is NULL

## Café señal

## Timeout

## Timeout
"""


def _hrefs(html: str) -> list[str]:
    return [unescape(href) for href in _HREF.findall(html)]


def test_heading_ids_are_the_anchors_the_runbook_check_enforces():
    ids = _ID.findall(render_runbook(AWKWARD_HEADINGS))
    assert ids == [h.anchor for h in parse_text(AWKWARD_HEADINGS, Path("awkward.md")).headings]
    assert "backfill--re-run" in ids and "two--spaces" in ids, "GitHub keeps one hyphen per space"


@pytest.mark.parametrize("pipeline_id", SHIPPED_PIPELINES)
def test_every_failure_anchor_lands_on_the_served_runbook_page(api_client, tokens, pipeline_id):
    registry = get_registry()
    html = api_client.get(f"/techflow/runbooks/{pipeline_id}", headers=bearer(tokens["viewer"])).text
    ids = set(_ID.findall(html))
    required = {failure_class.anchor for failure_class in failure_classes_for(registry.pipelines[pipeline_id])}
    present = set(RUNBOOK_ANCHORS.values()) & parse_file(registry.runbook_path(pipeline_id)).anchors
    assert required <= present, "the runbooks check requires these sections"
    assert present <= ids
    assert executable_parts(html) == []


def test_markdown_links_are_rewritten_only_when_relative_and_known():
    markdown = (
        "[growth](growth.md#kafka-outage) [top](growth.md) [web](https://example.com/a.md) [abs](/docs/a.md) "
        "[other](notes.md) [here](#timeout) [js](javascript:alert(1).md)\n"
    )
    asked = []

    def page_for(path: str, fragment: str) -> str | None:
        asked.append((path, fragment))
        return f"https://airflow.example/techflow/runbooks/{path.removesuffix('.md')}" + (f"#{fragment}" if fragment else "") if path == "growth.md" else None

    html = render_runbook(markdown, page_for)
    assert asked == [("growth.md", "kafka-outage"), ("growth.md", ""), ("notes.md", "")]
    assert _hrefs(html) == [
        "https://airflow.example/techflow/runbooks/growth#kafka-outage",
        "https://airflow.example/techflow/runbooks/growth",
        "https://example.com/a.md",
        "/docs/a.md",
        "notes.md",
        "#timeout",
    ]
    assert executable_parts(html) == []


def test_links_between_runbooks_open_the_other_runbooks_page_at_its_section(api_client, tokens):
    headers = bearer(tokens["viewer"])
    followed = set()
    for pipeline_id in SHIPPED_PIPELINES:
        html = api_client.get(f"/techflow/runbooks/{pipeline_id}", headers=headers).text
        hrefs = _hrefs(html)
        assert [h for h in hrefs if urlsplit(h).path.endswith(".md")] == [], pipeline_id
        for href in hrefs:
            if not href.startswith(links.plugin_url("runbooks/")):
                continue
            target = urlsplit(href)
            page = api_client.get(target.path, headers=headers)
            assert page.status_code == 200, href
            if target.fragment:
                assert f'id="{target.fragment}"' in page.text, href
            followed.add(href)
    assert links.runbook_url("growth", "data-quality-failure") in followed, "executive_investor.md links growth.md#data-quality-failure"
    assert links.runbook_url("profit", "zero-subscribers") in followed, "experiment_team.md links profit.md#zero-subscribers"
