"""What a page says: everything the person paged at 3 a.m. needs, in one message."""

from __future__ import annotations

from dataclasses import dataclass

from .. import links
from ..failures import FAILURE_MODES, FailureClass

LEVEL_NAMES = {1: "L1 data engineering", 2: "L2 business owner team", 3: "L3 management"}
# Stands for the recipient's role in a stored page (printable: PostgreSQL text holds no NUL).
ROLE_SLOT = "<<paged-as>>"
# Stands for the recipient's signed acknowledge/resolve links (a line of its own), filled when
# the outbox row is delivered so they are bound to that recipient and expire from delivery.
LINK_SLOT = "<<action-links>>"
KIND_TITLES = {"task_failure": "task failed", "dag_failure": "DAG run failed", "deadline_miss": "SLA deadline missed",
               "dq_warning": "data-quality warning", "platform_down": "stopped (watchdog)",
               "stale_data": "is stale (watchdog)"}


@dataclass(frozen=True)
class Page:
    subject: str
    body: str  # plain text; channels format it


def first_lines(text: str, count: int) -> str:
    lines = (text or "").strip().splitlines()
    if len(lines) <= count:
        return "\n".join(lines)
    return "\n".join(lines[:count] + [f"... ({len(lines) - count} more lines in the log)"])


class PageRenderer:
    """Renders the pages of one pipeline at one escalation level; what does not depend on the
    incident (links, titles, owners) is worked out once, since an engine tick may page
    thousands of incidents of the same pipeline."""

    def __init__(self, pipeline, level: int, role: str, error_lines: int):
        self.pipeline, self.level, self.role, self.error_lines = pipeline, level, role, error_lines
        self.runbook = links.runbook_url(pipeline.id)
        self.header = (
            f"{pipeline.title} ({pipeline.criticality.value} criticality"
            + (", investor-facing" if pipeline.investor_facing else "") + ")"
        )
        self.owners = (f"Owners:     {pipeline.owners.primary} (primary), {pipeline.owners.secondary} (secondary); "
                       f"business owner team: {pipeline.business_owner_team}")
        self._sections: dict[FailureClass, str] = {}
        self.incident_base = links.incident_url("")  # + the incident id

    def _section(self, failure_class: FailureClass) -> str:
        url = self._sections.get(failure_class)
        if url is None:
            url = self._sections[failure_class] = links.runbook_url(self.pipeline.id, failure_class.anchor)
        return url

    def render(self, incident, *, drill: bool = False) -> Page:
        pipeline, level = self.pipeline, self.level
        failure_class = FailureClass(incident.failure_class)
        mode = incident.failure_mode or failure_class.value
        what = KIND_TITLES.get(incident.kind, incident.kind)
        where = f"task {incident.task_id}" if incident.task_id else f"DAG {incident.dag_id}"
        if isinstance(incident.details, dict) and incident.details.get("watchdog_check"):
            where = incident.details["watchdog_check"].replace("stale_data:", "published data of ")
        prefix = "[DRILL] " if drill else ""
        severity = incident.severity or "major"
        subject = (
            f"{prefix}[TechFlow L{level}][{severity}] {pipeline.title}: {where} {what}"
            + (f" ({failure_class.title})" if failure_class is not FailureClass.task_error else "")
        )
        error_lines = max(self.error_lines, 40) if failure_class is FailureClass.data_quality else self.error_lines
        lines = [
            f"{prefix}Incident #{incident.id} - {self.header}",
            f"You are paged as: {self.role}; escalation level {level} ({LEVEL_NAMES.get(level, level)})",
            "",
            f"Pipeline:   {pipeline.id}",
            f"DAG:        {incident.dag_id}",
            f"Task:       {incident.task_id or '-'}",
            f"Run:        {incident.run_id or '-'}",
            f"Try:        {incident.try_number if incident.try_number is not None else '-'}",
            f"Failure:    {failure_class.title} ({what}): {FAILURE_MODES.get(mode, mode)}",
            f"Severity:   {severity}",
            f"Opened:     {incident.opened_at.isoformat()}",
            self.owners,
            "",
            "Error:",
            # a data-quality failure lists every failed check with its observed values: keep them all
            first_lines(incident.error, error_lines) or "(no error text)",
        ]
        quality = incident.details.get("failed_expectations") if isinstance(incident.details, dict) else None
        if quality:
            lines += ["", "Failed checks:"]
            for item in quality:
                lines.append(f"  - {item}" if not isinstance(item, dict) else "  - " + ", ".join(f"{k}={v}" for k, v in item.items()))
        lines += [
            "",
            f"Log:        {incident.log_url or '-'}",
            f"Runbook:    {self.runbook}",
            f"Section:    {self._section(failure_class)}  ({failure_class.title})",
            f"Incident:   {self.incident_base}{incident.id}",
            "",
            LINK_SLOT,
            f"Acknowledge to stop escalation: techflow-ops incidents ack {incident.id} --user <you>",
            f"Resolve:                        techflow-ops incidents resolve {incident.id} --user <you>",
        ]
        return Page(subject, "\n".join(lines))


def fill_links(body: str, action_links: dict[str, str] | None) -> str:
    """The page's link line: one `Acknowledge: <url>` / `Resolve: <url>` line per link, or
    nothing at all (a notice, or a text without the slot)."""
    text = "".join(f"{action.capitalize()}: {url}\n" for action, url in (action_links or {}).items())
    return body.replace(LINK_SLOT + "\n", text, 1).replace(LINK_SLOT, text.rstrip("\n"), 1)
