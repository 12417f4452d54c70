"""Hostile names and runbooks render inert on every page that shows them."""

from __future__ import annotations

from techflow_ops.web.runbook_html import render_runbook

from .conftest import bearer
from .hostile import HOSTILE_RUNBOOK, SCRIPT_NAME, executable_parts, visible_text


def test_runbook_markdown_is_sanitised():
    html = render_runbook(HOSTILE_RUNBOOK)
    assert executable_parts(html) == []
    assert '<a href="https://example.com/runbook"' in html
    assert '<a href="#kafka-outage"' in html
    assert '<h2 id="kafka-outage">' in html
    # The script is shown as text, so a reader sees what the runbook author wrote.
    assert '<script>alert("runbook")</script>' in visible_text(html)


def test_repeated_headings_get_distinct_anchors():
    html = render_runbook("## Timeout\n\n## Timeout\n")
    assert 'id="timeout"' in html and 'id="timeout-1"' in html


def test_caught_pages_link_only_their_http_urls():
    """The Inbox shows a page's text with its URLs (the Acknowledge/Resolve links) clickable."""
    from techflow_ops.web.app import _linkify

    text = ('Acknowledge: http://h:8080/techflow/act/1/sofia/acknowledge?t=a.b-_c&x=1\n'
            'Log: javascript:alert(1) data:text/html,<script>alert(2)</script>\n'
            'See https://example.com/runbook. "http://q/"onmouseover="alert(3)" <b>bold</b>')
    html = str(_linkify(text))
    assert executable_parts(html) == []
    assert visible_text(html) == text  # every character shown, as text
    assert ('<a href="http://h:8080/techflow/act/1/sofia/acknowledge?t=a.b-_c&amp;x=1" rel="noopener noreferrer">'
            in html)
    assert '<a href="https://example.com/runbook" rel="noopener noreferrer">https://example.com/runbook</a>.' in html
    assert '<a href="http://q/" rel="noopener noreferrer">http://q/</a>&#34;onmouseover' in html
    assert html.count("<a ") == 3 and "<b>" not in html and "<script>" not in html


def test_hostile_config_renders_inert_on_pages_and_api(api_client, tokens, hostile_config):
    headers = bearer(tokens["viewer"])
    pages = ("/techflow/ownership", "/techflow/runbooks/profit", "/techflow/dags/profit", "/techflow/feeds",
             "/techflow/oncall", "/techflow/calendar", "/techflow/fairness", "/techflow/health")
    for path in pages:
        response = api_client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text[:300])
        assert executable_parts(response.text) == [], path
    ownership = api_client.get("/techflow/ownership", headers=headers).text
    assert SCRIPT_NAME in visible_text(ownership), "the hostile name is shown, as text"
    calendar = api_client.get("/techflow/calendar", headers=headers).text
    assert SCRIPT_NAME in visible_text(calendar), "the on-call schedule shows the hostile name too, as text"
    assert "&lt;script&gt;" in ownership
    body = api_client.get("/techflow/api/runbooks/profit", headers=headers).json()
    assert executable_parts(body["html"]) == []
    assert api_client.get("/techflow/api/ownership", headers=headers).headers["content-type"].startswith("application/json")
