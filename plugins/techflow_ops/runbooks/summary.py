"""`runbook_summary(pipeline_id)`: the runbook's purpose and a link to each common issue,
for a DAG's `doc_md`. Cheap enough for DAG parse time: no Airflow import, and the file is
read again only when it changed (every parse of every pipeline DAG asks for it).
"""

from __future__ import annotations

from .. import links
from ..registry import get_registry
from ..reloading import ReloadingCache
from .catalogue import COMMON_ISSUES
from .document import parse_outline

_cache: ReloadingCache[str] = ReloadingCache()


def runbook_summary(pipeline_id: str, registry=None) -> str:
    registry = registry or get_registry()
    pipeline = registry.pipelines[pipeline_id]
    path = registry.runbook_path(pipeline)
    url = links.runbook_url(pipeline_id)
    return _cache.get((pipeline_id, pipeline.runbook, str(path), url),
                      lambda: _summarise(pipeline_id, pipeline.runbook, path), files=(path,))


def _summarise(pipeline_id: str, runbook: str, path) -> str:
    doc = parse_outline(path)
    url = links.runbook_url(pipeline_id)
    lines = [f"**Runbook:** [{doc.title}]({url}) (source: `{runbook}`)", ""]
    intro = doc.intro_paragraph()
    if intro:
        lines += [intro, ""]
    common = doc.section(COMMON_ISSUES)
    if common:
        issues = [f"[{s.heading.text}]({links.runbook_url(pipeline_id, s.heading.anchor)})" for s in doc.subsections(common, 3)]
        if issues:
            lines.append("**Common issues:** " + " · ".join(issues))
    return "\n".join(lines).rstrip() + "\n"
