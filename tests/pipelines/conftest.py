"""Throwaway PostgreSQL databases, for the warehouse SQL on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, os.environ.get("TECHFLOW_TEST_PG_USER", "postgres")


@contextmanager
def throwaway_postgres_databases(prefix: str) -> Iterator[Callable[[], str]]:
    """A factory of new, empty databases (their SQLAlchemy URLs), all dropped on exit; the
    test is skipped when PostgreSQL does not answer."""
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL does not answer on {PG_HOST}:{PG_PORT} as {PG_USER}: {exc}".strip())
    admin.autocommit = True
    names: list[str] = []

    def make() -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"

    try:
        yield make
    finally:
        from techflow_ops.pipelines.warehouse import dispose_engines

        dispose_engines()
        with admin.cursor() as cursor:
            for name in names:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def postgres_warehouse_url():
    with throwaway_postgres_databases("techflow_wh_test") as make:
        yield make()
