"""The real-deployment failure->page benchmark's DAG file, and the store's warm-up for forks."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_real_failure_latency.py"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("trace", [False, True])
def test_benchmark_dag_file_builds_the_two_dags(tmp_path, trace):
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    from techflow_ops.escalation.callbacks import ReportTaskFailure

    bench = _load(BENCH, "bench_real_failure_latency")
    dags = bench.write_dags(tmp_path, trace)
    module = _load(dags / "bench_real_failure_dags.py", f"bench_real_failure_dags_{trace}")

    assert (module.bare.dag_id, module.techflow.dag_id) == (bench.BARE_DAG, bench.TECHFLOW_DAG)
    bare_callbacks = module.bare.get_task("load_revenue").on_failure_callback
    techflow_callbacks = module.techflow.get_task("load_revenue").on_failure_callback
    assert any(isinstance(cb, SmtpNotifier) for cb in bare_callbacks)
    assert any(isinstance(cb, ReportTaskFailure) and cb.pipeline_id == bench.PIPELINE_ID for cb in techflow_callbacks)
    assert module.techflow.get_task("load_revenue").retries == 0
    assert (len(techflow_callbacks) == 3) is trace  # trace: a start mark and a span dump around the real one


def test_store_import_fills_the_type_cache_keys():
    from techflow_ops.escalation import store

    for table in (store.incidents, store.outbox, store.incident_events):
        for column in table.c:
            assert "_static_cache_key" in column.type.__dict__, f"{table.name}.{column.name}"
