"""The warehouse engine: one URL, from the Airflow connection when defined; safe first use in parallel."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import inspect

from techflow_ops.pipelines import warehouse as wh


def test_parallel_first_use_of_a_fresh_warehouse_creates_every_table_once(tmp_path):
    """Parallel tasks on a fresh SQLite warehouse used to fail with 'table ... already exists'."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code = "import sys; from techflow_ops.pipelines import warehouse as wh; wh.get_engine(sys.argv[1]); print('ok')"
    processes = [subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(6)]
    results = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0] * 6, [err[-500:] for _, err in results]
    assert set(inspect(wh.get_engine(url)).get_table_names()) == set(wh.metadata.tables)


def test_warehouse_url_comes_from_the_airflow_connection(monkeypatch, tmp_path):
    monkeypatch.delenv("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", raising=False)
    monkeypatch.setenv("TECHFLOW_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'fallback.db'}")
    assert wh.warehouse_url() == f"sqlite:///{tmp_path / 'fallback.db'}"

    monkeypatch.setenv("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": "/srv/wh.db"}))
    assert wh.warehouse_url() == "sqlite:////srv/wh.db"
    monkeypatch.setenv("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", "sqlite:////srv/wh.db")  # the URI form keeps the absolute path
    assert wh.warehouse_url() == "sqlite:////srv/wh.db"
    monkeypatch.setenv("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", json.dumps(
        {"conn_type": "postgres", "host": "db.internal", "login": "etl", "password": "s3cr/t", "port": 5432,
         "schema": "warehouse"}))
    assert wh.warehouse_url() == "postgresql+psycopg2://etl:s3cr%2Ft@db.internal:5432/warehouse"
    monkeypatch.setenv("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", "postgres://etl:pw@db.internal:5433/warehouse")
    assert wh.warehouse_url() == "postgresql+psycopg2://etl:pw@db.internal:5433/warehouse"
    monkeypatch.setenv("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", json.dumps(
        {"conn_type": "generic", "extra": {"sqlalchemy_url": "postgresql+psycopg2://u@h/db"}}))
    assert wh.warehouse_url() == "postgresql+psycopg2://u@h/db"
    monkeypatch.setenv("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", json.dumps({"conn_type": "mysql", "host": "h"}))
    try:
        wh.warehouse_url()
    except ValueError as exc:
        assert "conn_type 'mysql' is not supported" in str(exc)
    else:
        raise AssertionError("an unsupported connection type must be refused")


def test_sqlite_warehouse_uses_wal_and_a_busy_timeout(tmp_path):
    engine = wh.get_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_a_forked_child_gets_its_own_engine_and_leaves_the_parents_connections_alone(tmp_path):
    url = f"sqlite:///{tmp_path / 'fork.db'}"
    parent_engine = wh.get_engine(url)
    with parent_engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO pipeline_runs VALUES ('p', '2026-11-01', 'r', 'published', 1, 0, '{}', "
                             "'2026-11-01 00:00:00')")
        conn.commit()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        status = 1
        try:
            os.close(read)
            engine = wh.get_engine(url)
            with engine.connect() as conn:
                rows = conn.exec_driver_sql("SELECT COUNT(*) FROM pipeline_runs").scalar()
            os.write(write, f"{engine is not parent_engine} {rows}".encode())
            wh.dispose_engines()
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read) as pipe:
        report = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and report == "True 1"
    assert wh.get_engine(url) is parent_engine
    with parent_engine.connect() as conn:  # the child dropped, but did not close, the parent's pooled connection
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM pipeline_runs").scalar() == 1
