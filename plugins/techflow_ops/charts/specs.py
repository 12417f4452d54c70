"""What each chart shows, as plain data, and its alt text: pure Python, no matplotlib.

A `Chart` is built from the KPI dicts (`techflow_ops.kpi`) by the functions below and drawn by
`charts.draw` only when an image is needed, so the digests' text, JSON and tests never pay for
matplotlib. The alt text says in words what the image shows (every figure in it), for a mail
client that blocks images and for screen readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH_PX = 480  # readable in a mail client's reading pane without scaling


@dataclass(frozen=True)
class Chart:
    name: str  # also the image's Content-ID stem: lower_snake_case
    kind: str  # sparklines | weekly_response | interruptions | oncall_load
    title: str
    alt: str
    data: dict = field(default_factory=dict)
    height_px: int = 160


def _percent(value: float | None) -> str:
    return "no runs" if value is None else f"{value * 100:.0f} %"


def _count(number: int, noun: str) -> str:
    """"1 day", "2 days": `noun` is singular and takes an "s" for any other number."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def success_sparklines(daily_series: dict[str, list[dict]], titles: dict[str, str], *, name: str = "run_success") -> Chart:
    """One sparkline per pipeline of its daily run-success rate (`daily_series` of the KPI API:
    {pipeline_id: [{"date", "runs", "success_rate", "fresh"}]}); a day without runs is a gap."""
    rows = []
    sentences = []
    for pipeline_id, days in daily_series.items():
        points = [(str(d["date"]), d.get("success_rate")) for d in days]
        rows.append({"label": titles.get(pipeline_id, pipeline_id), "points": points})
        with_runs = [rate for _, rate in points if rate is not None]
        failed_days = [day for day, rate in points if rate is not None and rate < 1]
        if not with_runs:
            sentences.append(f"{titles.get(pipeline_id, pipeline_id)}: no runs")
            continue
        sentence = (f"{titles.get(pipeline_id, pipeline_id)}: {len(with_runs) - len(failed_days)} of {len(with_runs)} "
                    "days with runs fully successful")
        if failed_days:
            sentence += " (failures on " + ", ".join(failed_days) + ")"
        sentences.append(sentence)
    first = min((p[0] for r in rows for p in r["points"]), default="")
    last = max((p[0] for r in rows for p in r["points"]), default="")
    alt = f"Run success per day, {first} to {last}. " + "; ".join(sentences) + "."
    return Chart(name, "sparklines", "Run success per day", alt, {"rows": rows}, height_px=28 * max(len(rows), 1) + 34)


def weekly_response(weekly_series: list[dict], *, name: str = "mtta_mttr") -> Chart:
    """Median time to acknowledge (minutes) and to resolve (hours) per week, side by side
    (their scales differ a hundredfold: one axis would flatten MTTA to nothing)."""
    weeks = [{"week_start": str(w["week_start"]), "mtta": w.get("mtta_median"), "mttr": w.get("mttr_median"),
              "incidents": w.get("incidents", 0)} for w in weekly_series]
    parts = [f"week of {w['week_start']}: {_count(w['incidents'], 'incident')}, MTTA {_duration(w['mtta'])}, "
             f"MTTR {_duration(w['mttr'])}" for w in weeks]
    alt = "Median time to acknowledge and to resolve per week. " + ("; ".join(parts) if parts else "No weeks") + "."
    return Chart(name, "weekly_response", "MTTA / MTTR per week (median)", alt, {"weeks": weeks})


def interruptions(people: dict[str, dict], names: dict[str, str], *, name: str = "interruptions") -> Chart:
    """Interruptions per person stacked by business, off-hours and sleep hours (KPI `people`)."""
    rows = []
    for person_id, kpis in people.items():
        counts = kpis.get("interruptions") or {}
        rows.append({"label": names.get(person_id, person_id), "business": counts.get("business", 0),
                     "off_hours": counts.get("off_hours", 0), "sleep": counts.get("sleep", 0)})
    parts = [f"{r['label']} {r['business']} business, {r['off_hours']} off-hours, {r['sleep']} sleep" for r in rows]
    alt = "Interruptions per person by business, off and sleep hours: " + ("; ".join(parts) if parts else "none") + "."
    return Chart(name, "interruptions", "Interruptions per person", alt, {"rows": rows},
                 height_px=26 * max(len(rows), 1) + 50)


def oncall_load(people: dict[str, dict], names: dict[str, str], *, target_spread_hours: float,
                period: str, name: str = "oncall_load") -> Chart:
    """On-call hours per person (primary + secondary + investor watch) as bars, with the spread
    (most minus least loaded) against the fairness target."""
    rows = []
    for person_id, kpis in people.items():
        hours = kpis.get("oncall_hours") or {}
        rows.append({"label": names.get(person_id, person_id), "primary": hours.get("primary", 0) or 0,
                     "secondary": hours.get("secondary", 0) or 0, "watch": hours.get("watch", 0) or 0})
    totals = [r["primary"] + r["secondary"] + r["watch"] for r in rows]
    spread = (max(totals) - min(totals)) if totals else 0.0
    met = spread <= target_spread_hours
    parts = [f"{r['label']} {t:.0f} h" for r, t in zip(rows, totals)]
    alt = (f"On-call hours per person, {period}: " + ("; ".join(parts) if parts else "nobody") +
           f". Spread {spread:.0f} h against a target of at most {target_spread_hours:.0f} h: {'met' if met else 'missed'}.")
    return Chart(name, "oncall_load", f"On-call hours, {period}", alt,
                 {"rows": rows, "spread": spread, "target": target_spread_hours, "met": met},
                 height_px=26 * max(len(rows), 1) + 60)


def daily_grid(daily_series: dict[str, list[dict]], titles: dict[str, str], *, name: str = "daily_health") -> Chart:
    """Run success rate and freshness per pipeline per day as two grids of cells (one row per
    pipeline, one column per day): readable for a hundred pipelines, where a hundred sparklines
    would be a page of their own. `daily_series` is the KPI API's; a day without finished runs
    and a day not yet begun are blank cells."""
    rows = []
    failed_total = stale_total = 0
    problems = []
    for pipeline_id, days in daily_series.items():
        label = titles.get(pipeline_id, pipeline_id)
        success = [d.get("success_rate") for d in days]
        fresh = [d.get("fresh") for d in days]
        rows.append({"label": label, "success": success, "fresh": fresh})
        failed = sum(1 for rate in success if rate is not None and rate < 1)
        stale = sum(1 for value in fresh if value is False)
        failed_total += failed
        stale_total += stale
        if failed or stale:
            problems.append(f"{label}: {_count(failed, 'day')} with a failed run, {_count(stale, 'stale day')}")
    dates = [str(d["date"]) for d in next(iter(daily_series.values()), [])]
    span = f"{dates[0]} to {dates[-1]}" if dates else "no days"
    alt = (f"Run success and freshness per pipeline per day, {span}, {_count(len(rows), 'pipeline')}: "
           f"{_count(failed_total, 'pipeline-day')} with a failed run, {_count(stale_total, 'stale pipeline-day')}. "
           + ("; ".join(problems) if problems else "Every day successful and fresh") + ".")
    return Chart(name, "daily_grid", "Run success and freshness per day", alt, {"dates": dates, "rows": rows},
                 height_px=12 * max(len(rows), 1) + 80)


def dq_pass_rate(pipelines: dict[str, dict], titles: dict[str, str], *, name: str = "dq_pass_rate") -> Chart:
    """Data-quality pass rate per pipeline (KPI `dq_pass_rate`): validations without a failed
    critical check, and checks passed, as bars from 0 to 100 %. Pipelines without a validation
    in the window are left out (and counted in the alt text)."""
    rows = []
    for pipeline_id, kpis in pipelines.items():
        rates = kpis.get("dq_pass_rate") or {}
        if rates.get("validations") is None:
            continue
        rows.append({"label": titles.get(pipeline_id, pipeline_id), "validations": rates["validations"],
                     "checks": rates.get("checks")})
    without = len(pipelines) - len(rows)
    parts = [f"{r['label']} validations {_percent(r['validations'])}, checks {_percent(r['checks'])}" for r in rows]
    alt = ("Data-quality pass rate per pipeline: " + ("; ".join(parts) if parts else "no validations") +
           (f"; {without} pipelines without validations" if without else "") + ".")
    return Chart(name, "dq_pass_rate", "Data-quality pass rate", alt, {"rows": rows}, height_px=22 * max(len(rows), 1) + 60)


# The fairness report's hour components (oncall.fairness.COMPONENT_METRICS) in the order the
# small multiples show them, with their short labels.
FAIRNESS_COMPONENTS = (("business_hours", "business"), ("off_hours", "off-hours"), ("sleep_hours", "sleep"),
                       ("weekend_hours", "weekend"), ("holiday_hours", "own holiday"), ("investor_hours", "investor period"))


def fairness_burden(role: str, fair: dict[str, dict], round_robin: dict[str, dict], names: dict[str, str], *,
                    period: str, name: str | None = None) -> Chart:
    """One role's on-call burden per person, the fair schedule beside strict round-robin on the
    same window: the weighted burden as grouped bars, and a small panel per hour component
    (business, off-hours, sleep, weekend, own holiday, investor period). `fair` and `round_robin`
    are `techflow-ops oncall fairness --format json`'s `per_person[role]` (person -> metric -> value)."""
    metrics = ("burden", *(metric for metric, _ in FAIRNESS_COMPONENTS))
    people = list(dict.fromkeys([*fair, *round_robin]))
    rows = [{"person": person, "label": names.get(person, person),
             "fair": {m: float((fair.get(person) or {}).get(m, 0.0)) for m in metrics},
             "round_robin": {m: float((round_robin.get(person) or {}).get(m, 0.0)) for m in metrics}} for person in people]

    def spread(which: str, metric: str) -> float:
        values = [r[which][metric] for r in rows]
        return round(max(values) - min(values), 2) if values else 0.0

    spreads = {which: {m: spread(which, m) for m in metrics} for which in ("fair", "round_robin")}
    role_name = role.replace("_", " ")

    def figures(metric: str) -> str:
        return ", ".join(f"{r['label']} {r['fair'][metric]:g} vs {r['round_robin'][metric]:g}" for r in rows) or "nobody"

    alt = (f"{role_name.capitalize()} on-call burden per person, {period}, fair schedule vs strict round-robin. "
           f"Weighted burden: {figures('burden')}; spread {spreads['fair']['burden']:g} vs {spreads['round_robin']['burden']:g}. "
           + " ".join(f"{label.capitalize()} (h): {figures(metric)}." for metric, label in FAIRNESS_COMPONENTS))
    size = max(len(rows), 1)
    return Chart(name or f"fairness_{role}", "fairness_burden", f"{role_name.capitalize()}: fair vs round-robin", alt,
                 {"role": role, "rows": rows, "components": [list(c) for c in FAIRNESS_COMPONENTS], "spreads": spreads},
                 height_px=2 * (14 * size + 44) + 22 * size + 80)
