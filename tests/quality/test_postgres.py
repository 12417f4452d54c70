"""The same suites, with their dialect-specific SQL, on a PostgreSQL warehouse."""

from __future__ import annotations

import pytest
from tests.quality.test_faults import ALSO_CRITICAL, FAULT_TABLE


@pytest.fixture(scope="module")
def pg_faulty(runner_for, postgres_warehouse_url):
    return runner_for("pg_faulty", tuple(spec for spec, *_ in FAULT_TABLE), url=postgres_warehouse_url)


def test_every_fault_is_caught_on_postgres(pg_faulty):
    assert pg_faulty.dialect.name == "postgresql"
    for spec, dataset, day, check, severity in FAULT_TABLE:
        result = pg_faulty.validate(dataset, day, f"pg_{spec}")
        expected_critical = ({check} if severity == "critical" else set()) | ALSO_CRITICAL.get(spec, set())
        assert not [o for o in result.outcomes if "error" in o.observed], (spec, result.summary())
        assert check in {o.check for o in result.failed}, (spec, result.summary())
        assert {o.check for o in result.failed_critical} == expected_critical, (spec, result.summary())
