"""A fresh warehouse per test, on the embedded SQLite file and on PostgreSQL (the same SQL)."""

from __future__ import annotations

import pytest
from tests.pipelines.conftest import throwaway_postgres_databases


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request, tmp_path, monkeypatch):
    """The warehouse the code under test reaches by `warehouse_url()`, empty; a throwaway
    PostgreSQL database per test, because versions and sign-offs accumulate per period."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
        monkeypatch.setenv("TECHFLOW_WAREHOUSE_URL", url)
        yield url
        return
    with throwaway_postgres_databases("techflow_reports_test") as make:
        url = make()
        monkeypatch.setenv("TECHFLOW_WAREHOUSE_URL", url)
        yield url


@pytest.fixture
def engine(warehouse_url, ops_db_url):
    """The warehouse engine, with a fresh ops DB for the data-quality results of the test."""
    from techflow_ops.pipelines.warehouse import get_engine

    return get_engine(warehouse_url)
