"""The Health page's caches (`web/health.py`): a page is computed again when the ops DB's marker
moves, but the sources outside the ops DB are read once a minute and a chart is drawn again only
when what it shows changed; a window keeps one page however often the marker moves."""

from __future__ import annotations

import gc
from datetime import date

import pytest

from techflow_ops import charts
from techflow_ops.web import health

WINDOW = (date(2026, 11, 1), date(2026, 11, 28))


@pytest.fixture
def fake_sources(monkeypatch):
    """health_page's collaborators replaced by counters: the marker is whatever the test sets."""
    marker = [(1, 1, 1, 1)]
    calls = {"outside": 0, "page": 0}

    def load_outside(from_date, to_date, pipeline_ids):
        calls["outside"] += 1
        return health._OutsideOps(calls["outside"], history=None)

    def compute_page(from_date, to_date, pipeline_ids, outside):
        calls["page"] += 1
        return {"page": calls["page"], "outside": outside.number, "marker": marker[0]}

    monkeypatch.setattr(health, "_config_key", lambda: ("config",))
    monkeypatch.setattr(health, "ops_marker", lambda: marker[0])
    monkeypatch.setattr(health, "_load_outside_ops", load_outside)
    monkeypatch.setattr(health, "_compute_health_page", compute_page)
    health.clear_cache()
    yield marker, calls
    health.clear_cache()


def test_an_ops_db_change_recomputes_the_page_but_not_the_sources_outside_it(fake_sources):
    marker, calls = fake_sources
    first = health.health_page(*WINDOW, ("growth",))
    assert health.health_page(*WINDOW, ("growth",)) is first  # cached: nothing read again
    assert calls == {"outside": 1, "page": 1}
    marker[0] = (1, 2, 1, 1)  # an acknowledgement: a new timeline event
    after = health.health_page(*WINDOW, ("growth",))
    assert (after["page"], after["outside"], after["marker"]) == (2, 1, (1, 2, 1, 1))
    assert calls == {"outside": 1, "page": 2}
    # A window keeps one page: the page of the old marker is gone, not left for the GC to walk.
    assert len(health._cache._entries) == 1


def test_a_page_never_outlives_the_minute_of_the_sources_it_shows(fake_sources):
    marker, calls = fake_sources
    health.health_page(*WINDOW, ("growth",))
    health._sources.clear()  # the minute is up: the sources are read again...
    again = health.health_page(*WINDOW, ("growth",))
    assert (again["outside"], calls) == (2, {"outside": 2, "page": 2})  # ...and the page computed from them


def test_the_cycle_collector_is_off_while_a_page_is_computed_and_on_after(fake_sources, monkeypatch):
    seen = []

    def compute_page(from_date, to_date, pipeline_ids, outside):
        seen.append(gc.isenabled())
        raise RuntimeError("the ops DB is gone")

    monkeypatch.setattr(health, "_compute_health_page", compute_page)
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        health.health_page(*WINDOW, ("growth",))
    assert seen == [False] and gc.isenabled()  # on again after a failure too


def test_a_chart_is_drawn_again_only_when_what_it_shows_changed(monkeypatch):
    drawn = []
    real_render = charts.render

    def counting_render(chart, fmt="png"):
        drawn.append(chart.data["rows"][0]["business"])
        return real_render(chart, fmt)

    monkeypatch.setattr(charts, "render", counting_render)
    health.clear_cache()
    one = charts.interruptions({"priya": {"interruptions": {"business": 1, "off_hours": 0, "sleep": 0}}}, {"priya": "Priya"})
    two = charts.interruptions({"priya": {"interruptions": {"business": 2, "off_hours": 0, "sleep": 0}}}, {"priya": "Priya"})
    first = health.chart_svg(one)
    assert health.chart_svg(one) is first
    assert drawn == [1]
    svg = health.chart_svg(two)
    assert drawn == [1, 2] and svg != first
    assert svg.startswith('<svg role="img" aria-label="Interruptions per person by business, off and sleep hours: Priya 2 business')
    health.clear_cache()
