"""A throwaway PostgreSQL database per test session, for the warehouse SQL on PostgreSQL."""

from __future__ import annotations

import os
import uuid

import pytest

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, os.environ.get("TECHFLOW_TEST_PG_USER", "postgres")


@pytest.fixture(scope="session")
def postgres_warehouse_url():
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL does not answer on {PG_HOST}:{PG_PORT} as {PG_USER}: {exc}".strip())
    admin.autocommit = True
    name = f"techflow_wh_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    from techflow_ops.pipelines.warehouse import dispose_engines

    dispose_engines()
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()
