"""Output suites on the transforms' real outputs: clean outputs pass every check, and a
revenue/ledger mismatch in the sources is caught again in the published profit."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from tests.quality.conftest import START
from tests.quality.test_faults import FAULT_TABLE

from techflow_ops.pipelines import steps
from techflow_ops.quality.suites import suites_for

DAY = date(2026, 11, 4)


@pytest.fixture(scope="module")
def clean_outputs(runner_for):
    # Every day from the first landed one, as the daily DAGs run: the weekly and monthly reports
    # must cover every day of their period so far (`covers_every_day_so_far`).
    quality_runner = runner_for("clean")
    day = START
    while day <= DAY:
        for pipeline_id in steps.pipeline_order():
            steps.transform(quality_runner.engine, pipeline_id, day, "outputs_test")
        day += timedelta(days=1)
    return quality_runner


@pytest.mark.parametrize("pipeline_id", ["profit", "growth", "engagement", "executive_investor", "experiment_team"])
def test_clean_outputs_pass_every_check(clean_outputs, pipeline_id):
    quality_runner = clean_outputs
    for suite in suites_for(pipeline_id, "output"):
        result = quality_runner.validate(suite, DAY, "outputs_test")
        assert result.row_count and result.row_count > 0, result.summary()
        assert not [o for o in result.failed if o.check != "row_count_vs_history"], result.summary()


def test_revenue_ledger_mismatch_is_caught_in_the_published_profit(runner_for):
    quality_runner = runner_for("faulty", tuple(spec for spec, *_ in FAULT_TABLE))
    steps.transform(quality_runner.engine, "profit", DAY, "outputs_test")
    result = quality_runner.validate("profit_monthly", DAY, "outputs_test")
    failed = {o.check: o for o in result.failed_critical}
    assert set(failed) == {"revenue_vs_ledger_within_tolerance"}, result.summary()
    sample = failed["revenue_vs_ledger_within_tolerance"].observed["sample"][0]
    assert sample["revenue"] == pytest.approx(1.05 * sample["ledger_revenue"], rel=1e-3)
