"""Issue 17: weighted burden in each person's own calendar (kinds of hour, own holidays, weights)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from techflow_ops.oncall.burden import COMPONENTS, Measure
from techflow_ops.oncall.config import load_oncall_config
from techflow_ops.oncall.fairness import fairness_report, gini
from techflow_ops.oncall.scheduler import generate, make_timeline
from techflow_ops.registry import ConfigError, load_registry

from .helpers import edit_oncall

UTC = timezone.utc


@pytest.fixture(scope="module")
def real():
    registry = load_registry()
    rotation = load_oncall_config(registry.config_dir, registry).rotation
    return rotation, make_timeline(rotation, datetime(2027, 12, 31, tzinfo=UTC))


def components(measure, person, start, end) -> dict[str, float]:
    return dict(zip(COMPONENTS, measure([(start, end)], person)))


def test_a_german_holiday_is_jonass_holiday_and_a_us_one_is_not(real):
    rotation, timeline = real
    measure = Measure(timeline)
    # Whit Monday 2027-05-17, midnight to midnight in Berlin (CEST): 22:00Z..22:00Z.
    start, end = datetime(2027, 5, 16, 22, tzinfo=UTC), datetime(2027, 5, 17, 22, tzinfo=UTC)
    jonas = components(measure, "jonas", start, end)
    assert jonas["holiday"] == 24 and jonas["burden"] == 24 * 3.0
    # The same 24 h in New York (EDT): Sunday 18:00-24:00 weekend (6 h), Monday 00-08 sleep,
    # 08-18 business; 10*1 + 8*2 + 6*2 = 38.
    priya = components(measure, "priya", start, end)
    assert (priya["holiday"], priya["weekend"], priya["sleep"], priya["off_hours"], priya["business"]) == (0, 6, 8, 0, 10)
    assert priya["burden"] == pytest.approx(38)
    # Independence Day (observed) Monday 2027-07-05, midnight to midnight in New York (04:00Z..04:00Z):
    # priya's holiday; for jonas (CEST) 06:00-06:00: sleep 2+2+6, business 08-18 = 10, off-hours
    # 18-22 = 4, no holiday.
    start, end = datetime(2027, 7, 5, 4, tzinfo=UTC), datetime(2027, 7, 6, 4, tzinfo=UTC)
    assert components(measure, "priya", start, end)["holiday"] == 24
    jonas = components(measure, "jonas", start, end)
    assert (jonas["holiday"], jonas["sleep"], jonas["off_hours"], jonas["business"]) == (0, 10, 4, 10)
    assert jonas["burden"] == pytest.approx(10 * 1 + 4 * 1.5 + 10 * 2)


def test_company_days_count_for_everyone_and_investor_hours_add_their_weight(real):
    rotation, timeline = real
    measure = Measure(timeline)
    # 2027-12-24 (company day) 12:00-13:00 New York = 17:00Z; inside December's investor period.
    start = datetime(2027, 12, 24, 17, tzinfo=UTC)
    for person in rotation.members:
        hour = components(measure, person, start, start + timedelta(hours=1))
        assert hour["holiday"] == 1 and hour["investor"] == 1 and hour["burden"] == 3.0 + 1.0, person


def test_gini_is_zero_when_equal_and_three_quarters_when_one_of_four_carries_all():
    assert gini([5, 5, 5, 5]) == 0
    assert gini([0, 0, 0, 8]) == pytest.approx(0.75)
    assert gini([1, 3]) == pytest.approx(0.25)  # |1-3| * 2 / (2 * 2^2 * 2)


def test_shipped_team_52_weeks_meets_the_burden_and_investor_bars(real):
    rotation, _ = real
    since = rotation.first_handoff()
    until = since + timedelta(weeks=52)
    timeline = make_timeline(rotation, until)
    schedule = generate(rotation, until, timeline=timeline)
    report = fairness_report(rotation, schedule.shifts, timeline, since, until)
    # One shift's weighted burden, read strictly: a plain week (no holiday, no investor hour),
    # 50 h business + 20 h off-hours x 1.5 + 50 h sleep x 2 + 48 h weekend x 2 = 276.
    one_shift = report["units"]["shift_burden"]
    assert one_shift == 50 + 20 * 1.5 + 50 * 2 + 48 * 2
    one_period = report["units"]["investor_period_hours"]["longest"]
    for role in ("primary", "secondary"):
        fair, rr = report["fair"]["spread"][role], report["round_robin"]["spread"][role]
        assert fair["burden"] <= one_shift, (role, fair["burden"], one_shift)
        assert report["fair"]["gini"][role]["burden"] < report["round_robin"]["gini"][role]["burden"]
    for role in ("primary", "secondary", "investor_watch"):
        fair, rr = report["fair"]["spread"][role], report["round_robin"]["spread"][role]
        assert fair["investor_hours"] <= rr["investor_hours"] and fair["investor_hours"] <= one_period, (role, fair, rr)


def test_bad_weight_and_unknown_country_name_file_field_and_value(config_copy):
    edit_oncall(config_copy, lambda d: d.setdefault("fairness", {}).setdefault("weights", {}).__setitem__("sleep", -1))
    with pytest.raises(ConfigError) as caught:
        load_oncall_config(config_copy, load_registry(config_copy))
    fields = {p.field: p for p in caught.value.problems}
    assert fields["fairness.weights.sleep"].value == -1 and fields["fairness.weights.sleep"].file.endswith("oncall.yaml")
    edit_oncall(config_copy, lambda d: d["fairness"]["weights"].__setitem__("sleep", 2))
    people = config_copy / "people.yaml"
    people.write_text(people.read_text().replace("country: DE", "country: XX", 1))
    with pytest.raises(ConfigError) as caught:
        load_oncall_config(config_copy, load_registry(config_copy))
    fields = {p.field: p for p in caught.value.problems}
    country = fields["people[jonas].country"]
    assert country.value == "XX" and country.file.endswith("people.yaml") and "holidays" in country.message
