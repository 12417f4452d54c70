"""Runbooks that cannot drift: one Markdown runbook per pipeline under include/runbooks/.

Hand-written parts (data, common issues with symptom, detection, diagnosis, fix,
backfill/re-run and whom to escalate to) stay hand-written. Facts the code owns (owners,
stakeholders, schedule, SLAs, failure classes, checks, escalation levels and waits) live in
generated blocks between `<!-- BEGIN GENERATED: name -->` and `<!-- END GENERATED: name -->`,
rewritten by `techflow-ops runbooks generate` and compared by `techflow-ops runbooks check`.

Anchors: a section's anchor is the GitHub slug of its plain heading text (`### Kafka
outage` -> `#kafka-outage`), so links work on GitHub, in `doc_md` and in the UI alike and
the Markdown stays free of attribute syntax nh3 would strip. The check enforces the anchors
pages link to (`FailureClass.anchor`) and the brief's failure modes (`catalogue.py`), and
rejects duplicate headings (GitHub would suffix them `-1`). HTML renderers add the ids
with the markdown-it-py plugin `heading_ids` and must keep `id` on h1-h6 when sanitising.
"""

from .anchors import heading_ids, slugify
from .catalogue import BRIEF_FAILURE_MODES, REQUIRED_SECTIONS, required_issues
from .summary import runbook_summary

__all__ = ["BRIEF_FAILURE_MODES", "REQUIRED_SECTIONS", "heading_ids", "required_issues", "runbook_summary", "slugify"]
