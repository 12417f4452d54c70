"""Generated warehouses for the quality tests: one clean, one with every generator fault.

Both are built once per session and share one Great Expectations context per warehouse
(importing GX and setting up a context are slow; a validation is cheap).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from tests.pipelines.conftest import postgres_warehouse_url  # noqa: F401 - the pipelines area's throwaway PG database

from techflow_ops.failures import KafkaOutage
from techflow_ops.pipelines import ingest, synthetic, warehouse

START, END = date(2026, 10, 1), date(2026, 11, 7)


def generate_world(root: Path, faults: tuple[str, ...] = (), url: str | None = None, events_per_day: int = 2000):
    """Land START..END with the faults; the warehouse (default: a SQLite file under `root`)."""
    config = synthetic.GeneratorConfig(START, END, accounts=24, events_per_day=events_per_day,
                                       faults=tuple(synthetic.FaultSpec.parse(f) for f in faults))
    synthetic.generate(config, data_dir=root)
    url = url or f"sqlite:///{root / 'warehouse.db'}"
    return url, warehouse.get_engine(url)


def build_warehouse(root: Path, faults: tuple[str, ...] = (), url: str | None = None) -> str:
    url, engine = generate_world(root, faults, url)
    day = START
    while day <= END:
        for source in synthetic.Source:
            if source in synthetic.MONTHLY_SOURCES and day.day != 1:
                continue
            try:
                ingest.load_partition(engine, source, day, f"load_{day}", data_dir=root)
            except KafkaOutage:  # no click events at all: the partition is recorded, checks must see it
                pass
        day += timedelta(days=1)
    return url


@pytest.fixture(scope="session")
def runner_for(tmp_path_factory):
    from techflow_ops.quality.validation import QualityRunner

    runners = {}

    def make(name: str, faults: tuple[str, ...] = (), url: str | None = None):
        if name not in runners:
            url = build_warehouse(tmp_path_factory.mktemp(name), faults, url)
            runners[name] = QualityRunner(url)
        return runners[name]

    return make
