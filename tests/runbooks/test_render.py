"""Anchors land in the rendered HTML, and DAG docs get a summary linking to each section."""

from __future__ import annotations

import nh3
import pytest
from markdown_it import MarkdownIt

from techflow_ops import links
from techflow_ops.failures import failure_classes_for
from techflow_ops.runbooks import heading_ids, runbook_summary, slugify


def test_slug_rule_matches_github():
    assert slugify("Kafka outage") == "kafka-outage"
    assert slugify("Divide-by-zero and missing values") == "divide-by-zero-and-missing-values"
    assert slugify("SLA miss") == "sla-miss"
    assert slugify("Backfill / re-run") == "backfill--re-run"


def test_heading_ids_survive_sanitising(copy_registry):
    text = copy_registry.runbook_path("profit").read_text()
    html = MarkdownIt("commonmark").enable("table").use(heading_ids).render(text)
    clean = nh3.clean(html, attributes={f"h{n}": {"id"} for n in range(1, 7)})
    for failure_class in failure_classes_for(copy_registry.pipelines["profit"]):
        assert f'id="{failure_class.anchor}"' in clean
    assert 'id="revenue-mismatch"' in clean


def test_summary_links_runbook_and_every_issue(copy_registry):
    summary = runbook_summary("profit", registry=copy_registry)
    assert summary.startswith(f"**Runbook:** [Runbook: Profit]({links.runbook_url('profit')}) (source: `include/runbooks/profit.md`)")
    assert "Unit-level profit per account and day" in summary
    for anchor in ("revenue-mismatch", "salary-duplicates", "data-quality-failure", "task-error"):
        assert f"({links.runbook_url('profit', anchor)})" in summary


def test_summary_follows_the_runbook(copy_registry, project_copy):
    path = project_copy / "include/runbooks/profit.md"
    path.write_text(path.read_text().replace("### Expense spike\n", "### Expense surge\n"))
    summary = runbook_summary("profit", registry=copy_registry)
    assert f"[Expense surge]({links.runbook_url('profit', 'expense-surge')})" in summary
    assert "expense-spike" not in summary


def test_dag_doc_md_carries_the_summary():
    from techflow_ops.pipelines.dag_factory import build_pipeline_dag

    dag = build_pipeline_dag("engagement")
    assert runbook_summary("engagement") in dag.doc_md
    assert f"({links.runbook_url('engagement', 'kafka-outage')})" in dag.doc_md


@pytest.mark.parametrize("pipeline_id", ["profit", "growth", "engagement", "executive_investor", "experiment_team"])
def test_ui_renderer_gives_every_section_its_anchor(pipeline_id):
    """The On-call view renders runbooks itself; its heading ids must be the anchors pages link to."""
    from techflow_ops.registry import get_registry
    from techflow_ops.runbooks.document import parse_file
    from techflow_ops.web.runbook_html import render_runbook

    path = get_registry().runbook_path(pipeline_id)
    html = render_runbook(path.read_text())
    for heading in parse_file(path).headings:
        assert f'id="{heading.anchor}"' in html, heading


def test_every_check_section_names_a_real_check_and_a_required_section():
    from techflow_ops.quality.suites import SUITES
    from techflow_ops.registry import get_registry
    from techflow_ops.runbooks.catalogue import CHECK_SECTIONS, DATA_QUALITY_SECTION, check_section, required_issues

    registry = get_registry()
    for (dataset, check), anchor in CHECK_SECTIONS.items():
        suite = SUITES[dataset]
        suite.check(check)  # raises KeyError for a check that does not exist
        assert anchor in {a for a, _ in required_issues(registry.pipelines[suite.pipeline_id])}, (dataset, check, anchor)
    assert check_section("stg_ledger", "entry_id_unique") == DATA_QUALITY_SECTION

