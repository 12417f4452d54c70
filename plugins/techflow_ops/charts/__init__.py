"""Small server-side charts shared by the digests and the Health page.

    success_sparklines(daily_series, titles) -> Chart      run success per pipeline per day
    weekly_response(weekly_series) -> Chart                MTTA / MTTR median per week
    interruptions(people, names) -> Chart                  per person: business / off-hours / sleep
    oncall_load(people, names, target_spread_hours=, period=) -> Chart   hours per person, fairness spread
    daily_grid(daily_series, titles) -> Chart              success rate and freshness per pipeline per day (grids)
    dq_pass_rate(pipelines, titles) -> Chart               DQ validations / checks passed per pipeline
    fairness_burden(role, fair, round_robin, names, period=) -> Chart   burden per person: fair vs round-robin
    render(chart, "png" | "svg") -> bytes                  draws it (imports matplotlib on first use)

Building a `Chart` (data and alt text) is pure Python; only `render` loads matplotlib.
"""

from .specs import (
    WIDTH_PX,
    Chart,
    daily_grid,
    dq_pass_rate,
    fairness_burden,
    interruptions,
    oncall_load,
    success_sparklines,
    weekly_response,
)


def render(chart: Chart, fmt: str = "png") -> bytes:
    from .draw import render as draw

    return draw(chart, fmt)


__all__ = ["WIDTH_PX", "Chart", "daily_grid", "dq_pass_rate", "fairness_burden", "interruptions", "oncall_load", "render", "success_sparklines",
           "weekly_response"]
