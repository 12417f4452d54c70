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
     "oncall_load": _oncall_load, "daily_grid": _daily_grid, "dq_pass_rate": _dq_pass_rate,
     "fairness_burden": _fairness_burden}[chart.kind](figure, chart)
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
    # Room for y tick numbers of up to five digits left of each panel, and for the rotated dates.
    _fixed_layout(figure, [left, right], [], 8, top_px=20, bottom_px=38, gap_px=44, min_left_px=36)
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
    labels = [r["label"] for r in rows]
    _fixed_layout(figure, [ax], labels, 8, top_px=20, bottom_px=40)
    _row_labels(ax, labels)
    ax.set_title(chart.title, loc="left")
    ax.xaxis.get_major_locator().set_params(integer=True)
    figure.legend(loc="lower center", fontsize=7, frameon=False, ncols=3)
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
    fontsize = 7 if len(labels) > 20 else 8
    _fixed_layout(figure, [left, right], labels, fontsize, top_px=38, bottom_px=20)
    for ax, values, colour_map, title in ((left, success, success_map, "run success"), (right, fresh, fresh_map, "fresh all day")):
        ax.imshow(values, aspect="auto", cmap=colour_map, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, loc="left")
        step = max(1, -(-len(dates) // 4))  # at most four date labels: each panel is half the width
        ax.set_xticks(range(0, len(dates), step), [d[5:] for d in dates[::step]], fontsize=7)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
    _row_labels(left, labels, fontsize=fontsize)
    figure.suptitle(chart.title, fontsize=9, x=0.02, y=1 - 3 / figure.bbox.height, ha="left", va="top")


def _row_labels(ax, labels: list[str], fontsize: float = 8) -> None:
    """One label per row (y = 0, 1, ...) left of `ax`, as plain texts rather than y ticks:
    matplotlib builds five artists per tick, which made a 100-row chart cost ~0.15 s more to
    draw. Row 0 at the top."""
    from matplotlib.transforms import blended_transform_factory, offset_copy

    ax.set_yticks([])
    ax.set_ylim(max(len(labels), 1) - 0.5, -0.5)
    at_left = offset_copy(blended_transform_factory(ax.transAxes, ax.transData), fig=ax.figure, x=-3.5, units="points")
    for y, label in enumerate(labels):
        ax.text(0, y, label, transform=at_left, ha="right", va="center", fontsize=fontsize)


def _fixed_layout(figure, axes: list, labels: list[str], fontsize: float, *, top_px: float, bottom_px: float,
                  gap_px: float = 14, min_left_px: float = 0) -> None:
    """Place `axes` side by side by hand instead of the constrained layout, which measures every
    artist of the figure in an extra drawing pass (half the drawing time of a 100-row chart):
    room on the left for the widest of `labels` (the row labels, measured in the font they are
    drawn in), `top_px` above for titles and `bottom_px` below for the x axis and the legend."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    figure.set_layout_engine(None)  # no engine at all: savefig then skips the measuring pass
    if figure.get_layout_engine() is not None:  # rcParams asked for one
        figure.set_layout_engine("none")
    renderer = RendererAgg(1, 1, figure.dpi)  # measures only: a one-pixel canvas
    font = FontProperties(size=fontsize)
    widest = max((renderer.get_text_width_height_descent(label, font, ismath=False)[0] for label in set(labels)), default=0.0)
    width, height = figure.bbox.width, figure.bbox.height
    left = min(max(widest + 10, min_left_px), width * 0.6)  # 3.5 pt gap and a margin; a very long name is cut at the edge
    each = (width - left - 8 - gap_px * (len(axes) - 1)) / len(axes)
    for index, ax in enumerate(axes):
        x = left + index * (each + gap_px)
        ax.set_position([x / width, bottom_px / height, each / width, 1 - (top_px + bottom_px) / height])


def _bars(ax, ys: list[float], widths: list[float], height: float, colour: str, label: str) -> None:
    """Horizontal bars from 0 as one collection: `barh` adds a patch per bar, which cost 0.1 s
    for the 200 bars of 100 pipelines. The caller sets the axis limits."""
    from matplotlib.collections import PolyCollection

    half = height / 2
    shapes = [[(0, y - half), (w, y - half), (w, y + half), (0, y + half)] for y, w in zip(ys, widths)]
    ax.add_collection(PolyCollection(shapes, facecolors=colour, edgecolors="none", label=label))


def _dq_pass_rate(figure, chart: Chart) -> None:
    rows = chart.data["rows"]
    ax = figure.subplots()
    ys = list(range(len(rows)))
    labels = [r["label"] for r in rows]
    _fixed_layout(figure, [ax], labels, 8, top_px=22, bottom_px=58 if rows else 40)
    validations = [100 * r["validations"] for r in rows]
    checks = [100 * (r["checks"] or 0) for r in rows]
    _bars(ax, [y - 0.2 for y in ys], validations, 0.4, COLOURS["primary"], "validations passed")
    _bars(ax, [y + 0.2 for y in ys], checks, 0.4, COLOURS["secondary"], "checks passed")
    for y, value in zip(ys, validations):
        ax.text(min(value, 100) + 1, y - 0.2, f"{value:.0f}%", va="center", fontsize=7)
    ax.set_xlim(0, 112)
    _row_labels(ax, labels)
    ax.set_xlabel("% passed")
    ax.set_title(chart.title if rows else "No data-quality validations in this window", loc="left")
    if rows:
        figure.legend(loc="lower center", fontsize=7, frameon=False, ncols=2)
    ax.grid(axis="x", color=COLOURS["grid"], linewidth=0.6)
    ax.set_axisbelow(True)


def _fairness_burden(figure, chart: Chart) -> None:
    """The weighted burden per person as grouped bars (fair schedule dark, round-robin light) over
    the figure's width, and below it one small panel per hour component, three to a row, the
    people in the same order in every panel (names on the left column only)."""
    rows, components = chart.data["rows"], chart.data["components"]
    labels = [r["label"] for r in rows]
    ys = list(range(len(rows)))
    size = max(len(rows), 1)
    grid = figure.add_gridspec(1 + -(-len(components) // 3), 3, height_ratios=[22 * size + 40] + [14 * size + 40] * -(-len(components) // 3))

    def grouped(ax, metric: str, with_labels: bool) -> None:
        ax.barh([y - 0.2 for y in ys], [r["fair"][metric] for r in rows], height=0.4, color=COLOURS["primary"], label="fair schedule")
        ax.barh([y + 0.2 for y in ys], [r["round_robin"][metric] for r in rows], height=0.4, color=COLOURS["watch"],
                label="round-robin")
        ax.set_yticks(ys, labels if with_labels else [], fontsize=7)
        ax.set_ylim(size - 0.5, -0.5)  # first person on top
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", color=COLOURS["grid"], linewidth=0.6)
        ax.set_axisbelow(True)

    main = figure.add_subplot(grid[0, :])
    grouped(main, "burden", True)
    spreads = chart.data["spreads"]
    main.set_title(f"Weighted burden: spread {spreads['fair']['burden']:g} fair vs {spreads['round_robin']['burden']:g} "
                   "round-robin", loc="left")
    for index, (metric, label) in enumerate(components):
        ax = figure.add_subplot(grid[1 + index // 3, index % 3])
        grouped(ax, metric, index % 3 == 0)
        ax.set_title(f"{label} h", loc="left", fontsize=8)
    figure.legend(*main.get_legend_handles_labels(), loc="outside lower center", fontsize=7, frameon=False, ncols=2)
