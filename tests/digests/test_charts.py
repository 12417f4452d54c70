"""The charts: alt text that says every figure, PNG 480 px wide, SVG with text as text, and
matplotlib loaded only when something is drawn (never by DAG parsing)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

from techflow_ops import charts

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_alt_texts_say_what_each_chart_shows():
    sparks = charts.success_sparklines(
        {"profit": [{"date": "2027-03-01", "success_rate": 1.0}, {"date": "2027-03-02", "success_rate": 0.5},
                    {"date": "2027-03-03", "success_rate": None}],
         "growth": [{"date": "2027-03-01", "success_rate": None}]}, {"profit": "Profit"})
    assert sparks.alt == ("Run success per day, 2027-03-01 to 2027-03-03. Profit: 1 of 2 days with runs fully successful "
                          "(failures on 2027-03-02); growth: no runs.")
    weekly = charts.weekly_response([{"week_start": "2027-03-08", "mtta_median": 90, "mttr_median": 5400, "incidents": 2}])
    # 90 s = 2 min (rounded), 5400 s = 1.5 h.
    assert weekly.alt == "Median time to acknowledge and to resolve per week. week of 2027-03-08: 2 incidents, MTTA 2 min, MTTR 1.5 h."
    people = {"priya": {"interruptions": {"business": 1, "off_hours": 2, "sleep": 3},
                        "oncall_hours": {"primary": 100, "secondary": 50, "watch": 10}},
              "jonas": {"interruptions": {}, "oncall_hours": {"primary": 0, "secondary": 0, "watch": 0}}}
    assert charts.interruptions(people, {"priya": "Priya"}).alt == (
        "Interruptions per person by business, off and sleep hours: Priya 1 business, 2 off-hours, 3 sleep; "
        "jonas 0 business, 0 off-hours, 0 sleep.")
    load = charts.oncall_load(people, {}, target_spread_hours=168, period="2027")
    # 100 + 50 + 10 = 160 h against 0 h: spread 160 h, within 168 h.
    assert load.alt == ("On-call hours per person, 2027: priya 160 h; jonas 0 h. "
                        "Spread 160 h against a target of at most 168 h: met.")
    assert (load.data["spread"], load.data["met"]) == (160, True)


def test_png_is_480_pixels_wide_and_svg_keeps_its_text():
    chart = charts.interruptions({"priya": {"interruptions": {"business": 2, "off_hours": 0, "sleep": 1}}}, {"priya": "Priya Raman"})
    png = charts.render(chart, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (480, chart.height_px)
    svg = charts.render(chart, "svg")
    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg")
    assert b"Priya Raman" in svg  # a label as text, readable by a screen reader and searchable


def test_matplotlib_is_loaded_only_when_a_chart_is_drawn(tmp_path):
    """Importing the charts, composing a digest and parsing the digests DAG leave matplotlib
    unloaded; the first drawing loads it with the Agg backend and a config folder under
    AIRFLOW_HOME (a task process's HOME may be unwritable)."""
    code = f"""
import sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={str(PROJECT_ROOT / 'dags' / 'techflow_digests.py')!r})
assert not bag.import_errors, bag.import_errors
from techflow_ops import charts, digests
chart = charts.interruptions({{}}, {{}})
assert "matplotlib" not in sys.modules, "loaded before drawing"
charts.render(chart)
import matplotlib, os
print(matplotlib.get_backend(), os.environ["MPLCONFIGDIR"])
"""
    env = {key: value for key, value in os.environ.items() if key not in ("MPLCONFIGDIR", "MPLBACKEND")}
    env.update(HOME=str(tmp_path / "missing-home"), AIRFLOW_HOME=str(tmp_path / "airflow"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    backend, config_dir = out.stdout.strip().splitlines()[-1].split(" ", 1)
    assert backend.lower() == "agg"
    assert config_dir == str(tmp_path / "airflow" / "matplotlib")


def test_dollar_signs_in_names_are_literal_text_in_every_chart():
    """matplotlib reads `$...$` as mathematics by default (and raises on what does not parse):
    names are drawn as they are written."""
    name = "Rev $share$ $"
    people = {"p": {"interruptions": {"business": 1, "off_hours": 0, "sleep": 0},
                    "oncall_hours": {"primary": 10, "secondary": 0, "watch": 0}}}
    drawn = [
        charts.success_sparklines({"p": [{"date": "2027-03-01", "success_rate": 1.0}]}, {"p": name}),
        charts.interruptions(people, {"p": name}),
        charts.oncall_load(people, {"p": name}, target_spread_hours=168, period="2027"),
    ]
    for chart in drawn:
        assert name.encode() in charts.render(chart, "svg"), chart.name


def test_alt_texts_say_one_day_and_one_incident_not_one_days():
    # Growth: one failed day (11-25) and one stale day (11-23); Profit: two of each; 2 pipelines.
    def days(failed: set, stale: set) -> list[dict]:
        return [{"date": f"2026-11-{d}", "success_rate": 0.0 if d in failed else 1.0, "fresh": d not in stale}
                for d in (23, 24, 25)]

    grid = charts.daily_grid({"growth": days({25}, {23}), "profit": days({24, 25}, {23, 24})},
                             {"growth": "Growth", "profit": "Profit"})
    assert grid.alt == ("Run success and freshness per pipeline per day, 2026-11-23 to 2026-11-25, 2 pipelines: "
                        "3 pipeline-days with a failed run, 3 stale pipeline-days. Growth: 1 day with a failed run, "
                        "1 stale day; Profit: 2 days with a failed run, 2 stale days.")
    single = charts.daily_grid({"growth": days({25}, set())}, {"growth": "Growth"})
    assert single.alt.startswith("Run success and freshness per pipeline per day, 2026-11-23 to 2026-11-25, 1 pipeline: "
                                 "1 pipeline-day with a failed run, 0 stale pipeline-days.")
    weekly = charts.weekly_response([{"week_start": "2026-10-26", "mtta_median": None, "mttr_median": None, "incidents": 1}])
    assert weekly.alt == "Median time to acknowledge and to resolve per week. week of 2026-10-26: 1 incident, MTTA none, MTTR none."


def test_row_labels_and_bars_of_the_hundred_row_charts_stay_text_and_shapes():
    """The daily grid and the DQ chart draw their row labels as texts and their bars as one
    collection (for speed): each label is still text in the SVG, and a bar per value is drawn."""
    titles = {f"p{i:03d}": f"Pipeline {i:03d}" for i in range(30)}
    daily = {pid: [{"date": "2026-11-23", "success_rate": 1.0, "fresh": True}] for pid in titles}
    rates = {pid: {"dq_pass_rate": {"validations": 0.5, "checks": 0.75}} for pid in titles}
    for chart in (charts.daily_grid(daily, titles), charts.dq_pass_rate(rates, titles)):
        svg = charts.render(chart, "svg")
        ElementTree.fromstring(svg)
        assert all(f">{title}<".encode() in svg for title in titles.values()), chart.name
    dq_svg = charts.render(charts.dq_pass_rate(rates, titles), "svg").decode()
    assert dq_svg.count(">50%<") == 30  # each validations bar carries its value
