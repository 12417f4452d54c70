"""The calendar's month grid (each person's own holidays, vacations, investor period, pending
swaps, prev/next, a bad `month`) and the fairness page's charts with their tables.

Expected values are worked out by hand from the shipped config: people.yaml (Priya US-NY,
Jonas DE-BE, ...), oncall.yaml (company days, vacations, 5-business-day investor period).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest
from sqlalchemy import delete, insert

from techflow_ops.cli import main as cli_main
from techflow_ops.oncall import get_schedule_service
from techflow_ops.oncall.tables import oncall_swap_requests
from techflow_ops.opsdb import get_engine
from techflow_ops.web.views import person_colours

from .conftest import bearer


class _Cells(HTMLParser):
    """Table cells by (table data-testid, row key, cell key): row key = the <tr>'s data-person,
    data-role or data-row; cell key = the cell's data-date or data-col. Each cell: its text and
    the data-kind/title/style of the elements inside it, its style and colspan."""

    def __init__(self):
        super().__init__()
        self.cells: dict[tuple, dict] = {}
        self.table = self.row = self.cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.table = attrs.get("data-testid")
        elif tag == "tr":
            self.row = attrs.get("data-person") or attrs.get("data-role") or attrs.get("data-row")
        elif tag in ("td", "th"):
            key = attrs.get("data-date") or attrs.get("data-col")
            self.cell = {"text": "", "kinds": [], "titles": [], "styles": [], "style": attrs.get("style", ""),
                         "colspan": int(attrs.get("colspan", 1))}
            self.cells[(self.table, self.row, key)] = self.cell
        elif self.cell is not None:
            if "data-kind" in attrs:
                self.cell["kinds"].append(attrs["data-kind"])
            if "title" in attrs:
                self.cell["titles"].append(attrs["title"])
            if "style" in attrs:
                self.cell["styles"].append(attrs["style"])

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.cell = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell["text"] += data


def _cells(html: str) -> dict[tuple, dict]:
    parser = _Cells()
    parser.feed(html)
    return parser.cells


def _month_page(api_client, tokens, month: str):
    response = api_client.get("/techflow/calendar", params={"month": month}, headers=bearer(tokens["viewer"]))
    assert response.status_code == 200, response.text
    return response.text, _cells(response.text)


def _kinds(cells, person: str, day: str) -> list[str]:
    return cells[("month-grid", person, day)]["kinds"]


def test_each_person_sees_their_own_public_holidays(api_client, tokens):
    html, cells = _month_page(api_client, tokens, "2026-12")
    # 26 December is a public holiday in Berlin (Zweiter Weihnachtstag), not in New York.
    jonas = cells[("month-grid", "jonas", "2026-12-26")]
    assert "holiday" in jonas["kinds"] and "Second Day of Christmas" in jonas["titles"]
    assert "holiday" not in _kinds(cells, "priya", "2026-12-26")
    # Company days (oncall.yaml) count for everyone, wherever they live.
    for person in ("priya", "marcus", "sofia", "jonas"):
        assert "Christmas Eve" in cells[("month-grid", person, "2026-12-24")]["titles"], person
    assert "2026-12-26 Second Day of Christmas: Jonas Weber" in html

    html, cells = _month_page(api_client, tokens, "2027-01")
    # Martin Luther King Jr. Day (third Monday of January) is a US holiday, not a German one.
    priya = cells[("month-grid", "priya", "2027-01-18")]
    assert "holiday" in priya["kinds"] and "Martin Luther King Jr. Day" in priya["titles"]
    assert "holiday" not in _kinds(cells, "jonas", "2027-01-18")
    assert "holiday" not in _kinds(cells, "priya", "2027-01-19")


def test_vacations_and_the_investor_period(api_client, tokens):
    _, cells = _month_page(api_client, tokens, "2026-12")
    # oncall.yaml: marcus 2026-12-21..2026-12-25, whole days, last one inclusive.
    away = sorted(day for (table, person, day), cell in cells.items()
                  if table == "month-grid" and person == "marcus" and "vacation" in cell["kinds"])
    assert away == ["2026-12-21", "2026-12-22", "2026-12-23", "2026-12-24", "2026-12-25"]
    assert not any("vacation" in cell["kinds"] for (table, person, _), cell in cells.items()
                   if table == "month-grid" and person != "marcus")
    # The last 5 business days of December 2026 in the US calendar: 31 (company day), 25 (Christmas),
    # 24 (company day) and the weekend do not count, so 30, 29, 28, 23, 22: the period runs 22..31.
    investor_days = sorted(day for (table, row, day), cell in cells.items()
                           if table == "month-grid" and row is None and "investor" in cell["kinds"])
    assert investor_days == [f"2026-12-{d}" for d in range(22, 32)]


def test_role_rows_write_each_holders_name_on_their_colour(api_client, tokens):
    _, cells = _month_page(api_client, tokens, "2026-12")
    service = get_schedule_service()
    colours = person_colours(service.rotation.members)
    assert len(set(colours.values())) == 4  # four people, four colours
    noon = datetime(2026, 12, 16, 17, tzinfo=timezone.utc)  # noon in New York, no hand-off that day
    primary = service.now(noon).primary
    # The week's run of days with the same holder is one cell (15..20 December: from the Monday
    # hand-off day, which has two holders, to the next one).
    cell = cells[("month-grid", "primary", "2026-12-15")]
    assert cell["colspan"] == 6
    assert cell["text"].strip() == service.registry.people[primary].name  # written, not told by colour alone
    assert cell["styles"] == [f"background: {colours[primary]}"]
    # Each person keeps their colour from month to month.
    _, january = _month_page(api_client, tokens, "2027-01")
    for grid in (cells, january):
        row_days = [c for (t, p, _), c in grid.items() if t == "month-grid" and p == primary and "role" in c["kinds"]]
        assert row_days and all(colours[primary] in c["style"] for c in row_days)


@pytest.fixture
def swap_requests():
    """Two swap requests written straight into the table, as the swap workflow stores them;
    removed afterwards (the web tests share one ops DB)."""
    rotation = get_schedule_service().rotation.id
    at = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    common = {"rotation": rotation, "role": "primary", "kind": "swap", "requested_at": at, "updated_at": at}
    rows = [
        {**common, "requester": "priya", "counterpart": "sofia", "status": "requested", "reason": "dentist",
         "start": datetime(2026, 12, 8, 15, tzinfo=timezone.utc), "end": datetime(2026, 12, 10, 15, tzinfo=timezone.utc)},
        {**common, "requester": "jonas", "counterpart": None, "status": "declined", "reason": "already decided",
         "start": datetime(2026, 12, 14, 15, tzinfo=timezone.utc), "end": datetime(2026, 12, 15, 15, tzinfo=timezone.utc)},
    ]
    with get_engine().begin() as connection:
        ids = [connection.execute(insert(oncall_swap_requests).values(**row)).inserted_primary_key[0] for row in rows]
    yield ids
    with get_engine().begin() as connection:
        connection.execute(delete(oncall_swap_requests).where(oncall_swap_requests.c.id.in_(ids)))


def test_pending_swap_requests_are_marked_on_both_peoples_days(api_client, tokens, swap_requests):
    pending, declined = swap_requests
    html, cells = _month_page(api_client, tokens, "2026-12")
    # 2026-12-08 15:00Z .. 2026-12-10 15:00Z touches 8, 9 and 10 December in New York.
    for person in ("priya", "sofia"):
        marked = sorted(day for (t, p, day), c in cells.items() if t == "month-grid" and p == person and "swap" in c["kinds"])
        assert marked == ["2026-12-08", "2026-12-09", "2026-12-10"], person
    assert not any("swap" in c["kinds"] for (t, p, _), c in cells.items() if t == "month-grid" and p in ("jonas", "marcus"))
    listed = html.split('data-testid="month-swaps"', 1)[1].split("</table>", 1)[0]
    assert f'<tr data-swap="{pending}">' in listed and f'data-swap="{declined}"' not in listed
    assert "dentist" in listed and "already decided" not in listed
    # The same through the JSON API.
    body = api_client.get("/techflow/api/calendar/month", params={"month": "2026-12"}, headers=bearer(tokens["viewer"])).json()
    assert [(s["id"], s["requester"], s["counterpart_name"]) for s in body["pending_swaps"]] == [(pending, "priya", "Sofia Alvarez")]


def test_month_links_and_a_bad_month(api_client, tokens):
    html, _ = _month_page(api_client, tokens, "2027-01")
    assert 'href="/techflow/calendar?month=2026-12"' in html and 'href="/techflow/calendar?month=2027-02"' in html
    assert 'data-testid="month-title">January 2027<' in html
    for bad, why in (("2026-13", "month 13 is not 01..12"), ("december", "not a month (YYYY-MM"), ("1899-05", "outside 2000..2100")):
        response = api_client.get("/techflow/calendar", params={"month": bad}, headers=bearer(tokens["viewer"]))
        assert response.status_code == 400, bad
        assert f"month=&#39;{bad}&#39;" in response.text and why in response.text, response.text
        answer = api_client.get("/techflow/api/calendar/month", params={"month": bad}, headers=bearer(tokens["viewer"]))
        assert answer.status_code == 400 and answer.json()["detail"].startswith(f"month='{bad}'")


def test_fairness_page_draws_a_chart_per_role_and_its_table_is_the_clis_report(api_client, tokens, capsys):
    html = api_client.get("/techflow/fairness", headers=bearer(tokens["viewer"])).text
    capsys.readouterr()
    assert cli_main(["oncall", "fairness", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    cells = _cells(html)
    roles = list(report["fair"]["per_person"])
    assert roles == ["primary", "secondary", "investor_watch"]
    for role in roles:
        figure = html.split(f'data-testid="chart-{role}">', 1)[1].split("</figure>", 1)[0]
        assert figure.startswith('<svg role="img" aria-label="') and "round-robin" in figure
        for which, table in (("fair", f"fairness-{role}"), ("round_robin", f"round-robin-{role}")):
            for person, row in report[which]["per_person"][role].items():
                for metric, value in row.items():
                    shown = cells[(table, person, metric)]["text"].strip()
                    assert float(shown) == value, (role, which, person, metric)
            for metric, value in report[which]["spread"][role].items():
                row = "spread" if which == "fair" else "round-robin-spread"
                assert float(cells[(f"fairness-{role}", row, metric)]["text"]) == value
    # The JSON API carries the charts' numbers (no drawing).
    body = api_client.get("/techflow/api/fairness", headers=bearer(tokens["viewer"])).json()
    chart = body["charts"]["primary"]
    assert "svg" not in chart
    burden = {r["person"]: (r["fair"]["burden"], r["round_robin"]["burden"]) for r in chart["data"]["rows"]}
    assert burden == {p: (report["fair"]["per_person"]["primary"][p]["burden"],
                          report["round_robin"]["per_person"]["primary"][p]["burden"]) for p in report["members"]}


def test_fairness_chart_spec_spreads_and_alt_text_and_its_drawing():
    from techflow_ops import charts

    fair = {"ann": {"burden": 10.0, "sleep_hours": 3.0}, "bo": {"burden": 14.5, "sleep_hours": 1.0}}
    round_robin = {"ann": {"burden": 8.0, "sleep_hours": 0.0}, "bo": {"burden": 20.0, "sleep_hours": 4.0}}
    spec = charts.fairness_burden("primary", fair, round_robin, {"ann": "Ann", "bo": "Bo"}, period="2027-01-01 to 2027-02-01")
    assert spec.data["spreads"]["fair"]["burden"] == 4.5 and spec.data["spreads"]["round_robin"]["burden"] == 12.0
    assert spec.data["spreads"]["round_robin"]["sleep_hours"] == 4.0
    assert "Weighted burden: Ann 10 vs 8, Bo 14.5 vs 20; spread 4.5 vs 12." in spec.alt
    assert "Sleep (h): Ann 3 vs 0, Bo 1 vs 4." in spec.alt
    assert "Own holiday (h): Ann 0 vs 0, Bo 0 vs 0." in spec.alt
    svg = charts.render(spec, "svg").decode()
    for text in ("Ann", "Bo", "fair schedule", "round-robin", "sleep h", "investor period h"):
        assert text in svg, text  # svg.fonttype none: labels stay text
