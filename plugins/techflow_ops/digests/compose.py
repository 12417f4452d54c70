"""The daily, weekly and monthly digests composed from KPI dicts: pure Python, no database.

`DigestInputs` holds what one digest run knows (the KPI API's dicts for the period, open
incidents, who is on call, DQ warnings, the hand-off, report readiness); `compose` turns it
into one `Digest` per audience. A digest is a list of sections (a title, sentences, a table)
rendered as plain text and as HTML from the same data, plus its charts (`techflow_ops.charts`).

Audiences (README "Digests"):
- daily: the engineering team (every pipeline) and each pipeline's business owner team (its
  own pipelines only); a daily digest with nothing to say is skipped (`QUIET`);
- weekly: the engineering team, for the Monday hand-off meeting;
- monthly: the management team and the CFO (escalation.yaml `management.cfo`).
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .. import charts as chart_specs
from ..charts import Chart

KINDS = ("daily", "weekly", "monthly")
QUIET = "everything healthy and nothing happened"
SEVERITY_ORDER = {"critical": 0, "major": 1, "minor": 2, "notice": 3}


@dataclass(frozen=True)
class Audience:
    """Who one digest goes to: a team or a person, by its email addresses, for some pipelines."""

    id: str  # team:<id> | person:<id>
    name: str
    emails: tuple[tuple[str, str | None], ...]  # (address, smtp connection id or None: the default)
    pipelines: tuple[str, ...]


@dataclass
class DigestInputs:
    kind: str
    at: datetime  # aware: the instant the digest is made (its run)
    tz: ZoneInfo  # the team's time zone: days and "yesterday" are its days
    start: date  # first local day covered
    end: date  # last local day covered (inclusive)
    kpis: dict  # compute_kpis over [start, end]
    daily_series: dict = field(default_factory=dict)  # {pipeline: [{"date","runs","success_rate","fresh"}]}
    weekly_series: list = field(default_factory=list)  # [{"week_start","mtta_median","mttr_median","incidents"}]
    open_incidents: list = field(default_factory=list)  # [{"id","pipeline_id","severity","status","opened_at","owner","runbook_url"}]
    oncall: list = field(default_factory=list)  # [{"day", "primary", "secondary", "investor_watch"}]
    dq_warnings: list = field(default_factory=list)  # [{"pipeline_id","dataset","summary","at"}]
    handoff: dict | None = None  # {"at", "coming_on": {role: person}, "going_off": {role: person}}
    year_people: dict = field(default_factory=dict)  # KPI "people" from 1 January to `end`
    fairness_target_hours: float = 168.0  # the largest allowed spread of on-call hours
    readiness: list = field(default_factory=list)  # reports.snapshots.period_readiness dicts
    month_end_incidents: list = field(default_factory=list)  # same shape as open_incidents, plus "resolved_at"


@dataclass(frozen=True)
class Section:
    title: str
    sentences: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (text in a cell, URL): that cell is a link in HTML
    chart: str | None = None  # name of a chart shown under the section


@dataclass
class Digest:
    kind: str
    period: str  # the digest's local date (ISO): with kind and recipient, its dedup key
    audience: Audience
    subject: str
    sections: list[Section] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    skipped: str | None = None  # why nothing is sent

    def dedup_key(self, address: str) -> str:
        return f"digest:{self.kind}:{self.period}:{self.audience.id}:{address}"

    def text(self) -> str:
        lines = [self.subject, "=" * len(self.subject), ""]
        if self.skipped:
            return "\n".join(lines + [f"Skipped: {self.skipped}."])
        charts = {c.name: c for c in self.charts}
        for section in self.sections:
            lines += [section.title, "-" * len(section.title)]
            lines += list(section.sentences)
            if section.rows:
                lines += _text_table(section.headers, section.rows)
            if section.chart and section.chart in charts:
                lines.append(f"[chart] {charts[section.chart].alt}")
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def html(self, images: dict[str, bytes] | None = None, *, inline: str = "cid") -> str:
        """The HTML part. `inline="cid"`: images by Content-ID (the email's related parts);
        `"data"`: embedded as data: URIs (`images` given), for a browser or a file."""
        esc = html.escape
        parts = [
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\">",
            f"<title>{esc(self.subject)}</title></head>",
            '<body style="margin:0;padding:16px;background:#f5f5f5;font-family:Arial,Helvetica,sans-serif;color:#212121">',
            '<div style="max-width:640px;margin:0 auto;background:#ffffff;padding:16px 20px;border:1px solid #e0e0e0">',
            f'<h1 style="font-size:18px;margin:0 0 4px 0">{esc(self.subject)}</h1>',
            f'<p style="font-size:12px;color:#616161;margin:0 0 12px 0">To {esc(self.audience.name)}</p>',
        ]
        if self.skipped:
            parts.append(f"<p>Skipped: {esc(self.skipped)}.</p>")
        charts = {c.name: c for c in self.charts}
        for section in self.sections:
            parts.append(f'<h2 style="font-size:15px;margin:18px 0 6px 0;border-bottom:1px solid #e0e0e0">{esc(section.title)}</h2>')
            parts += [f'<p style="font-size:13px;margin:4px 0">{esc(s)}</p>' for s in section.sentences]
            if section.rows:
                parts.append(_html_table(section.headers, section.rows, dict(section.links)))
            chart = charts.get(section.chart) if section.chart else None
            if chart is not None:
                if inline == "data" and images and chart.name in images:
                    src = "data:image/png;base64," + base64.b64encode(images[chart.name]).decode()
                else:
                    src = f"cid:{chart.name}"
                parts.append(f'<p style="margin:8px 0"><img src="{src}" alt="{esc(chart.alt)}" width="{chart_specs.WIDTH_PX}" '
                             f'style="display:block;max-width:100%;height:auto"></p>')
        parts.append("</div></body></html>")
        return "\n".join(parts)

    def to_json(self) -> dict:
        return {
            "kind": self.kind, "period": self.period, "subject": self.subject, "skipped": self.skipped,
            "audience": {"id": self.audience.id, "name": self.audience.name,
                         "emails": [address for address, _ in self.audience.emails],
                         "pipelines": list(self.audience.pipelines)},
            "sections": [{"title": s.title, "sentences": list(s.sentences), "headers": list(s.headers),
                          "rows": [list(r) for r in s.rows], "chart": s.chart} for s in self.sections],
            "charts": [{"name": c.name, "title": c.title, "alt": c.alt} for c in self.charts],
        }


def _text_table(headers, rows) -> list[str]:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [line(headers), line("-" * w for w in widths)] + [line(r) for r in rows]


def _html_table(headers, rows, links: dict[str, str]) -> str:
    esc = html.escape
    cell = 'style="padding:3px 8px;border-bottom:1px solid #eeeeee;font-size:12px;text-align:left;vertical-align:top"'
    head = "".join(f'<th {cell}>{esc(str(h))}</th>' for h in headers)

    def content(value) -> str:
        text = esc(str(value))
        url = links.get(str(value))
        return f'<a href="{esc(url)}">{text}</a>' if url else text

    body = "".join("<tr>" + "".join(f"<td {cell}>{content(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table style="border-collapse:collapse;width:100%"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# --- formatting ---------------------------------------------------------------------------------


def percent(value: float | None) -> str:
    # A no-break space: a narrow table cell never wraps "100.0" away from its "%".
    return "-" if value is None else f"{value * 100:.1f}\u00a0%"


def target_percent(value: float | None) -> str:
    """A target or its value: 99.9 %, 96.43 %, 100 % (as many digits as the target has)."""
    return "-" if value is None else f"{value * 100:.4g}\u00a0%"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def age(opened_at: datetime, at: datetime) -> str:
    return duration(max((at - opened_at).total_seconds(), 0))


def failed_runs(pipeline_kpis: dict) -> int:
    """Finished runs that failed: runs x (1 - success rate), the KPI API giving the rate."""
    rate = pipeline_kpis.get("run_success_rate")
    return 0 if rate is None else round((pipeline_kpis.get("runs") or 0) * (1 - rate))


def _sorted_incidents(incidents: list[dict]) -> list[dict]:
    return sorted(incidents, key=lambda i: (SEVERITY_ORDER.get(i.get("severity") or "major", 9), i["opened_at"]))


# --- the digests ----------------------------------------------------------------------------------


def compose(inputs: DigestInputs, audiences: list[Audience], registry) -> list[Digest]:
    if inputs.kind not in KINDS:
        raise ValueError(f"digest kind must be one of {list(KINDS)}, not {inputs.kind!r}")
    build = {"daily": _daily, "weekly": _weekly, "monthly": _monthly}[inputs.kind]
    return [build(inputs, audience, registry) for audience in audiences]


def _titles(registry) -> dict[str, str]:
    return {p.id: p.title for p in registry.pipelines.values()}


def _names(registry) -> dict[str, str]:
    return {p.id: p.name for p in registry.people.values()}


def _own(mapping: dict, audience: Audience) -> dict:
    return {key: value for key, value in mapping.items() if key in audience.pipelines}


def _incident_rows(incidents: list[dict], at: datetime, titles: dict, names: dict) -> tuple[tuple, tuple]:
    rows, links = [], []
    for incident in _sorted_incidents(incidents):
        label = f"#{incident['id']}"
        rows.append((label, titles.get(incident["pipeline_id"], incident["pipeline_id"]), incident.get("severity") or "major",
                     incident.get("status", "open"), names.get(incident.get("owner"), incident.get("owner") or "-"),
                     # a resolved one: how long it was open
                     age(incident["opened_at"], incident.get("resolved_at") or at), "runbook" if incident.get("runbook_url") else "-"))
        if incident.get("runbook_url"):
            # One link text per table: the runbook cell links to this incident's runbook section.
            rows[-1] = rows[-1][:-1] + (f"runbook #{incident['id']}",)
            links.append((f"runbook #{incident['id']}", incident["runbook_url"]))
    return tuple(rows), tuple(links)


INCIDENT_HEADERS = ("incident", "pipeline", "severity", "status", "owner", "age", "runbook")


def is_quiet(inputs: DigestInputs, pipelines: tuple[str, ...]) -> bool:
    """Every pipeline healthy, and in the period no failed run, no deadline miss, no incident
    opened, none open now, no data-quality warning."""
    for pipeline_id in pipelines:
        kpis = inputs.kpis.get("pipelines", {}).get(pipeline_id)
        if kpis is None:
            continue
        if (kpis.get("health") or {}).get("state") != "healthy":
            return False
        if failed_runs(kpis) or kpis.get("deadline_misses") or kpis.get("incidents"):
            return False
    if any(i["pipeline_id"] in pipelines for i in inputs.open_incidents):
        return False
    return not any(w["pipeline_id"] in pipelines for w in inputs.dq_warnings)


def _daily(inputs: DigestInputs, audience: Audience, registry) -> Digest:
    day = inputs.at.astimezone(inputs.tz).date()
    titles, names = _titles(registry), _names(registry)
    subject = f"[TechFlow daily] Pipelines on {inputs.end.isoformat()}"
    if audience.id.startswith("team:") and audience.pipelines != tuple(registry.pipelines):
        subject += f" ({', '.join(titles.get(p, p) for p in audience.pipelines)})"
    digest = Digest("daily", day.isoformat(), audience, subject)
    if is_quiet(inputs, audience.pipelines):
        digest.skipped = QUIET
        return digest
    pipelines = _own(inputs.kpis.get("pipelines", {}), audience)
    rows = []
    for pipeline_id, kpis in pipelines.items():
        health = kpis.get("health") or {}
        rows.append((titles.get(pipeline_id, pipeline_id), str(kpis.get("runs", 0)), str(failed_runs(kpis)),
                     str(kpis.get("deadline_misses", 0)), str(kpis.get("incidents", 0)),
                     health.get("state", "unknown") + (f": {'; '.join(health['reasons'])}" if health.get("reasons") else "")))
    failures = sum(failed_runs(k) for k in pipelines.values())
    misses = sum(k.get("deadline_misses", 0) or 0 for k in pipelines.values())
    digest.sections.append(Section(
        f"Yesterday ({inputs.end.isoformat()})",
        (f"{sum(k.get('runs', 0) or 0 for k in pipelines.values())} runs, {failures} failed, {misses} deadline misses.",),
        ("pipeline", "runs", "failed", "deadline misses", "incidents", "health"), tuple(rows), chart="run_success"))
    own_open = [i for i in inputs.open_incidents if i["pipeline_id"] in audience.pipelines]
    incident_rows, links = _incident_rows(own_open, inputs.at, titles, names)
    digest.sections.append(Section(
        "Open incidents", () if own_open else ("None.",), INCIDENT_HEADERS if own_open else (), incident_rows, links))
    if inputs.oncall:
        digest.sections.append(Section("On call", (), ("day", "primary", "secondary", "investor watch"), tuple(
            (str(o["day"]), names.get(o.get("primary"), o.get("primary") or "nobody"),
             names.get(o.get("secondary"), o.get("secondary") or "nobody"),
             names.get(o.get("investor_watch"), o.get("investor_watch") or "-")) for o in inputs.oncall)))
    warnings = [w for w in inputs.dq_warnings if w["pipeline_id"] in audience.pipelines]
    digest.sections.append(Section(
        "Data-quality warnings", () if warnings else ("None.",), ("pipeline", "dataset", "warning") if warnings else (),
        tuple((titles.get(w["pipeline_id"], w["pipeline_id"]), w.get("dataset") or "-", w.get("summary") or "-")
              for w in warnings)))
    digest.charts.append(chart_specs.success_sparklines(_own(inputs.daily_series, audience), titles))
    return digest


def _totals_rows(totals: dict) -> tuple[tuple[str, ...], ...]:
    verdicts = {True: "met", False: "missed", None: "no data"}
    return tuple((name.replace("_", " "), target_percent(t.get("target")), target_percent(t.get("value")), verdicts[t.get("met")])
                 for name, t in (totals.get("targets") or {}).items())


def _stat(stats: dict | None, key: str) -> float | None:
    return (stats or {}).get(key)


def _weekly(inputs: DigestInputs, audience: Audience, registry) -> Digest:
    day = inputs.at.astimezone(inputs.tz).date()
    titles, names = _titles(registry), _names(registry)
    subject = f"[TechFlow weekly] {inputs.start.isoformat()} to {inputs.end.isoformat()}: SLA, response, on-call hand-off"
    digest = Digest("weekly", day.isoformat(), audience, subject)
    pipelines = _own(inputs.kpis.get("pipelines", {}), audience)
    digest.sections.append(Section(
        "SLA compliance per pipeline", (),
        ("pipeline", "freshness SLA met", "run success", "deadline misses", "uptime", "data downtime", "DQ validations",
         "DQ checks"),
        tuple((titles.get(p, p), percent(k.get("freshness_sla_attainment")), percent(k.get("run_success_rate")),
               str(k.get("deadline_misses", 0)), percent(k.get("uptime")), f"{k.get('data_downtime_hours') or 0:.1f} h",
               percent((k.get("dq_pass_rate") or {}).get("validations")), percent((k.get("dq_pass_rate") or {}).get("checks")))
              for p, k in pipelines.items()),
        chart="run_success"))
    totals = inputs.kpis.get("totals", {})
    response_rows = [("all pipelines", str(totals.get("incidents", 0)), duration(_stat(totals.get("mtta_seconds"), "median")),
                      duration(_stat(totals.get("mtta_seconds"), "p90")), duration(_stat(totals.get("mttr_seconds"), "median")),
                      duration(_stat(totals.get("mttr_seconds"), "p90")))]
    response_rows += [(titles.get(p, p), str(k.get("incidents", 0)), duration(_stat(k.get("mtta_seconds"), "median")),
                       duration(_stat(k.get("mtta_seconds"), "p90")), duration(_stat(k.get("mttr_seconds"), "median")),
                       duration(_stat(k.get("mttr_seconds"), "p90"))) for p, k in pipelines.items() if k.get("incidents")]
    digest.sections.append(Section("Response: MTTA and MTTR", (),
                                   ("scope", "incidents", "MTTA median", "MTTA p90", "MTTR median", "MTTR p90"),
                                   tuple(response_rows), chart="mtta_mttr"))
    people = inputs.kpis.get("people", {})
    digest.sections.append(Section(
        "Interruptions per person", ("Business 08-18 Mon-Fri, off-hours 18-22 Mon-Fri and weekends, sleep 22-08; "
                                     "in each person's own time zone.",),
        ("person", "pages", "business", "off-hours", "sleep"),
        tuple((names.get(p, p), str(k.get("pages", 0)), *(str((k.get("interruptions") or {}).get(w, 0))
                                                          for w in ("business", "off_hours", "sleep")))
              for p, k in people.items()),
        chart="interruptions"))
    load = chart_specs.oncall_load(inputs.year_people, names, target_spread_hours=inputs.fairness_target_hours,
                                   period=f"{inputs.end.year} so far")
    digest.sections.append(Section(
        f"On-call load in {inputs.end.year} so far",
        (f"Spread {load.data['spread']:.0f} h between the most and least loaded; fairness target at most "
         f"{inputs.fairness_target_hours:.0f} h (one shift): {'met' if load.data['met'] else 'missed'}.",),
        ("person", "primary h", "secondary h", "investor watch h", "total h"),
        tuple((r["label"], f"{r['primary']:.0f}", f"{r['secondary']:.0f}", f"{r['watch']:.0f}",
               f"{r['primary'] + r['secondary'] + r['watch']:.0f}") for r in load.data["rows"]),
        chart="oncall_load"))
    handoff = inputs.handoff or {}
    coming = handoff.get("coming_on") or {}
    going = handoff.get("going_off") or {}
    sentences = [f"Hand-off at {handoff['at']}." if handoff.get("at") else "No hand-off this week."]
    for role in ("primary", "secondary", "investor_watch"):
        if role in coming or role in going:
            sentences.append(f"{role.replace('_', ' ')}: {names.get(going.get(role), going.get(role) or 'nobody')} hands over "
                             f"to {names.get(coming.get(role), coming.get(role) or 'nobody')}.")
    own_open = [i for i in inputs.open_incidents if i["pipeline_id"] in audience.pipelines]
    count = f"{len(own_open)} open incident" + ("s" if len(own_open) != 1 else "")
    sentences.append(f"{count} handed over." if own_open else "No open incidents to hand over.")
    incident_rows, links = _incident_rows(own_open, inputs.at, titles, names)
    digest.sections.append(Section("Hand-off", tuple(sentences), INCIDENT_HEADERS if own_open else (), incident_rows, links))
    if totals.get("targets"):
        digest.sections.append(Section("Targets", (), ("target", "goal", "value", "verdict"), _totals_rows(totals)))
    digest.charts += [chart_specs.success_sparklines(_own(inputs.daily_series, audience), titles),
                      chart_specs.weekly_response(inputs.weekly_series), chart_specs.interruptions(people, names), load]
    return digest


def _monthly(inputs: DigestInputs, audience: Audience, registry) -> Digest:
    day = inputs.at.astimezone(inputs.tz).date()
    titles, names = _titles(registry), _names(registry)
    month = inputs.start.strftime("%B %Y")
    digest = Digest("monthly", day.isoformat(), audience, f"[TechFlow monthly] {month}: investor readiness, SLAs, capacity")
    readiness_rows = tuple(
        (r["report"], r["period"], "yes" if r.get("complete") else "no", r.get("dq_status") or "-",
         (r["signed_off"] or {}).get("by", "yes") if r.get("signed_off") else "no", "READY" if r.get("ready") else "not ready")
        for r in inputs.readiness)
    ready = [r for r in inputs.readiness if r.get("ready")]
    digest.sections.append(Section(
        "Investor report readiness",
        (f"{len(ready)} of {len(inputs.readiness)} reports ready (complete, validated and signed off)."
         if inputs.readiness else "No report period to review.",),
        ("report", "period", "complete", "validation", "signed off", "status") if readiness_rows else (), readiness_rows))
    pipelines = _own(inputs.kpis.get("pipelines", {}), audience)
    digest.sections.append(Section(
        "SLA attainment per pipeline", (),
        ("pipeline", "freshness SLA met", "run success", "deadline misses", "uptime", "incidents", "critical"),
        tuple((titles.get(p, p), percent(k.get("freshness_sla_attainment")), percent(k.get("run_success_rate")),
               str(k.get("deadline_misses", 0)), percent(k.get("uptime")), str(k.get("incidents", 0)),
               str((k.get("incidents_by_severity") or {}).get("critical", 0))) for p, k in pipelines.items()),
        chart="run_success"))
    month_end = [i for i in inputs.month_end_incidents if i["pipeline_id"] in audience.pipelines]
    rows, links = _incident_rows(month_end, inputs.at, titles, names)
    digest.sections.append(Section(
        "Month-end incidents", (f"{len(month_end)} incident{'s' if len(month_end) != 1 else ''} in the investor period "
                                "(the month's last business days)."
                                if month_end else "None in the investor period (the month's last business days).",),
        INCIDENT_HEADERS if month_end else (), rows, links))
    people = inputs.kpis.get("people", {})
    totals = {p: sum((k.get("oncall_hours") or {}).values()) for p, k in people.items()}
    counts = {p: sum((k.get("interruptions") or {}).values()) for p, k in people.items()}
    mean_hours = sum(totals.values()) / len(totals) if totals else 0.0
    mean_count = sum(counts.values()) / len(counts) if counts else 0.0
    digest.sections.append(Section(
        "On-call capacity",
        (f"Team average: {mean_hours:.0f} on-call hours and {mean_count:.1f} interruptions per person.",),
        ("person", "on-call h", "vs average", "interruptions", "vs average", "sleep"),
        tuple((names.get(p, p), f"{totals[p]:.0f}", f"{totals[p] - mean_hours:+.0f}", str(counts[p]),
               f"{counts[p] - mean_count:+.1f}", str((people[p].get("interruptions") or {}).get("sleep", 0)))
              for p in people),
        chart="interruptions"))
    targets = inputs.kpis.get("totals", {})
    if targets.get("targets"):
        digest.sections.append(Section("Targets", (), ("target", "goal", "value", "verdict"), _totals_rows(targets)))
    digest.charts += [chart_specs.success_sparklines(_own(inputs.daily_series, audience), titles),
                      chart_specs.interruptions(people, names)]
    return digest


def render_images(digest: Digest) -> dict[str, bytes]:
    """Each chart of the digest as PNG, by name (imports matplotlib)."""
    return {chart.name: chart_specs.render(chart, "png") for chart in digest.charts}


def inline_images_json(images: dict[str, bytes]) -> str:
    """The outbox's `inline_images` column: the PNGs the HTML shows by Content-ID."""
    return json.dumps([{"cid": name, "content_type": "image/png", "filename": f"{name}.png",
                        "data": base64.b64encode(data).decode()} for name, data in images.items()])


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def previous_day(day: date) -> date:
    return day - timedelta(days=1)
