"""Draw a `Chart` with matplotlib: PNG for mail clients, SVG for web pages (text stays text, no
JavaScript needed).

Why matplotlib: it renders server-side to PNG and SVG from one code path, is maintained and
packaged for every platform we run on, and needs no browser or JavaScript at the reader's end
(Plotly/Altair/Bokeh draw in the browser, which mail clients and pages with JavaScript off
cannot run). It is heavy to import (~0.3-0.5 s), so it is imported here only, on the first
drawing: DAG parsing and task start-up never load it.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

from .specs import WIDTH_PX, Chart

DPI = 100
COLOURS = {"ok": "#2e7d32", "bad": "#c62828", "line": "#455a64", "business": "#90a4ae", "off_hours": "#f9a825",
           "sleep": "#6a1b9a", "primary": "#1565c0", "secondary": "#64b5f6", "watch": "#b0bec5", "mtta": "#1565c0",
           "mttr": "#ef6c00", "grid": "#e0e0e0"}
_lock = threading.Lock()
_ready = False


def _cache_dir() -> Path:
    from .. import settings

    return settings.airflow_home() / "matplotlib"


def _prepare() -> None:
    """The Agg backend (no display in task processes) and a config/font-cache folder that is
    writable and kept between processes: a task process's HOME may be read-only or absent,
    and matplotlib would then rebuild its font cache in a fresh temp folder on every run."""
    global _ready
    with _lock:
        if _ready:
            return
        os.environ.setdefault("MPLBACKEND", "Agg")
        if not os.environ.get("MPLCONFIGDIR"):
            folder = _cache_dir()
            try:
                folder.mkdir(parents=True, exist_ok=True)
                if os.access(folder, os.W_OK):
                    os.environ["MPLCONFIGDIR"] = str(folder)
            except OSError:
                pass  # matplotlib falls back to a temporary folder of its own
        import matplotlib

        matplotlib.use("Agg", force=True)
        # parse_math off: names are literal text (`$...$` in a pipeline or person name is not mathematics).
        matplotlib.rcParams.update({"font.size": 8, "axes.titlesize": 9, "svg.fonttype": "none", "text.parse_math": False,
                                    "axes.spines.top": False, "axes.spines.right": False})
        _ready = True


def render(chart: Chart, fmt: str = "png") -> bytes:
    """The chart as PNG (WIDTH_PX wide) or SVG bytes."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"chart format must be 'png' or 'svg', not {fmt!r}")
    _prepare()
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, chart.height_px / DPI), dpi=DPI, layout="constrained")
    {"sparklines": _sparklines, "weekly_response": _weekly_response, "interruptions": _interruptions,
     "oncall_load": _oncall_load, "daily_grid": _daily_grid, "dq_pass_rate": _dq_pass_rate}[chart.kind](figure, chart)
    buffer = io.BytesIO()
    metadata = {"Title": chart.title, "Description": chart.alt} if fmt == "png" else {"Title": chart.title}
    figure.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
    return buffer.getvalue()


def _sparklines(figure, chart: Chart) -> None:
    rows = chart.data["rows"] or [{"label": "no pipelines", "points": []}]
    axes = figure.subplots(len(rows), 1, squeeze=False)[:, 0]
    figure.suptitle(chart.title, fontsize=9, x=0.02, ha="left")
    for ax, row in zip(axes, rows):
        xs = list(range(len(row["points"])))
        ys = [rate if rate is not None else float("nan") for _, rate in row["points"]]
        ax.plot(xs, ys, color=COLOURS["line"], linewidth=1.2)
        for x, y in zip(xs, ys):
            if y == y:  # not NaN: a day with runs
                ax.plot([x], [y], "o", markersize=3, color=COLOURS["ok"] if y >= 1 else COLOURS["bad"])
        ax.set_ylim(-0.1, 1.15)
        ax.set_xlim(-0.5, max(len(xs) - 0.5, 0.5))
        ax.set_yticks([])
        ax.set_xticks([])
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        label = row["label"] if len(row["label"]) <= 22 else row["label"][:21] + "\u2026"  # the plot keeps its width
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        last = next((y for y in reversed(ys) if y == y), None)
        ax.text(1.01, 0.5, "-" if last is None else f"{last * 100:.0f}%", transform=ax.transAxes, va="center", fontsize=8)


def _weekly_response(figure, chart: Chart) -> None:
    weeks = chart.data["weeks"]
    left, right = figure.subplots(1, 2)
    labels = [w["week_start"][5:] for w in weeks]
    xs = list(range(len(weeks)))
    left.bar(xs, [(w["mtta"] or 0) / 60 for w in weeks], color=COLOURS["mtta"])
    left.set_title("MTTA (min)")
    right.bar(xs, [(w["mttr"] or 0) / 3600 for w in weeks], color=COLOURS["mttr"])
    right.set_title("MTTR (h)")
    for ax in (left, right):
        ax.set_xticks(xs, labels, rotation=45, ha="right", fontsize=7)
        ax.grid(axis="y", color=COLOURS["grid"], linewidth=0.6)
        ax.set_axisbelow(True)


def _interruptions(figure, chart: Chart) -> None:
    rows = chart.data["rows"]
    ax = figure.subplots()
    ys = list(range(len(rows)))
    left = [0] * len(rows)
    for key, label in (("business", "business"), ("off_hours", "off-hours"), ("sleep", "sleep")):
        values = [r[key] for r in rows]
        ax.barh(ys, values, left=left, color=COLOURS[key], label=label, height=0.6)
        left = [a + b for a, b in zip(left, values)]
    ax.set_yticks(ys, [r["label"] for r in rows])
    ax.invert_yaxis()
    ax.set_title(chart.title, loc="left")
    ax.xaxis.get_major_locator().set_params(integer=True)
    figure.legend(loc="outside lower center", fontsize=7, frameon=False, ncols=3)
    ax.grid(axis="x", color=COLOURS["grid"], linewidth=0.6)
    ax.set_axisbelow(True)


def _oncall_load(figure, chart: Chart) -> None:
    rows = chart.data["rows"]
    ax = figure.subplots()
    ys = list(range(len(rows)))
    left = [0.0] * len(rows)
    for key, label in (("primary", "primary"), ("secondary", "secondary"), ("watch", "investor watch")):
        values = [r[key] for r in rows]
        if any(values):
            ax.barh(ys, values, left=left, color=COLOURS[key], label=label, height=0.6)
        left = [a + b for a, b in zip(left, values)]
    if rows:
        low, high = min(left), max(left)
        # The fairness band: from the least loaded person to that plus the allowed spread.
        ax.axvspan(low, low + chart.data["target"], color=COLOURS["ok"], alpha=0.08, linewidth=0)
        ax.axvline(high, color=COLOURS["ok"] if chart.data["met"] else COLOURS["bad"], linewidth=1, linestyle="--")
    ax.set_yticks(ys, [r["label"] for r in rows])
    ax.invert_yaxis()
    verdict = "met" if chart.data["met"] else "missed"
    ax.set_title(f"On-call hours: spread {chart.data['spread']:.0f} h, target \u2264 {chart.data['target']:.0f} h ({verdict})",
                 loc="left")
    ax.set_xlabel("hours")
    figure.legend(loc="outside lower center", fontsize=7, frameon=False, ncols=3)
    ax.grid(axis="x", color=COLOURS["grid"], linewidth=0.6)
    ax.set_axisbelow(True)


def _daily_grid(figure, chart: Chart) -> None:
    from matplotlib.colors import LinearSegmentedColormap, ListedColormap

    rows, dates = chart.data["rows"], chart.data["dates"]
    labels = [r["label"] if len(r["label"]) <= 22 else r["label"][:21] + "\u2026" for r in rows]
    success_map = LinearSegmentedColormap.from_list("success", [COLOURS["bad"], "#fbc02d", COLOURS["ok"]])
    fresh_map = ListedColormap([COLOURS["bad"], COLOURS["ok"]])
    for colour_map in (success_map, fresh_map):
        colour_map.set_bad("#eceff1")  # no finished run / day not begun: a blank cell, not a verdict
    nan = float("nan")
    success = [[nan if v is None else v for v in r["success"]] for r in rows] or [[nan]]
    fresh = [[nan if v is None else float(v) for v in r["fresh"]] for r in rows] or [[nan]]
    left, right = figure.subplots(1, 2, sharey=True)
    for ax, values, colour_map, title in ((left, success, success_map, "run success"), (right, fresh, fresh_map, "fresh all day")):
        ax.imshow(values, aspect="auto", cmap=colour_map, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, loc="left")
        step = max(1, -(-len(dates) // 4))  # at most four date labels: each panel is half the width
        ax.set_xticks(range(0, len(dates), step), [d[5:] for d in dates[::step]], fontsize=7)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
    left.set_yticks(range(len(labels)), labels, fontsize=7 if len(labels) > 20 else 8)
    figure.suptitle(chart.title, fontsize=9, x=0.02, ha="left")


def _dq_pass_rate(figure, chart: Chart) -> None:
    rows = chart.data["rows"]
    ax = figure.subplots()
    ys = list(range(len(rows)))
    validations = [100 * r["validations"] for r in rows]
    checks = [100 * (r["checks"] or 0) for r in rows]
    ax.barh([y - 0.2 for y in ys], validations, height=0.4, color=COLOURS["primary"], label="validations passed")
    ax.barh([y + 0.2 for y in ys], checks, height=0.4, color=COLOURS["secondary"], label="checks passed")
    for y, value in zip(ys, validations):
        ax.text(min(value, 100) + 1, y - 0.2, f"{value:.0f}%", va="center", fontsize=7)
    ax.set_xlim(0, 112)
    ax.set_yticks(ys, [r["label"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("% passed")
    ax.set_title(chart.title if rows else "No data-quality validations in this window", loc="left")
    if rows:
        figure.legend(loc="outside lower center", fontsize=7, frameon=False, ncols=2)
    ax.grid(axis="x", color=COLOURS["grid"], linewidth=0.6)
    ax.set_axisbelow(True)
