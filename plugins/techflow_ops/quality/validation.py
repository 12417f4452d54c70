"""Run suites with Great Expectations inside the warehouse. Imports GX: import this module
only inside task callables, the CLI and tests, never at DAG-parse time.

Why it is fast (see benchmarks/bench_quality.py):
- one batch per run: a query asset selecting only the run's partition by a range on the
  indexed partition column, so every metric query scans one partition, never the table;
- duplicate and domain checks are `UnexpectedRowsExpectation`s: one GROUP BY ... HAVING
  per key instead of GX's window-function uniqueness metrics (much slower on SQLite);
- `partial_unexpected_count: 0`: no per-expectation sample queries on clean data; samples
  of violating rows are fetched only for checks that failed;
- the GX context, data source and suites are built once per process and reused; a worker
  that forks task processes (scheduler with the LocalExecutor, Celery worker) builds the
  context and data source once, before it forks (`prepare_runner`, called by
  `pipelines.preload`), so a validate task starts with GX imported and its context ready.
  Suites are per partition and stay per task process (built from the registry as it is then).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import threading
import time
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults
from sqlalchemy import text

from ..failures import DataQualityFailure
from ..pipelines import warehouse
from ..registry import get_registry
from . import results
from .checks import Check, DatasetSuite, Kind, Partition
from .results import CheckOutcome, QualityResult
from .sql import Dialect
from .suites import SUITES, failure_mode

SITE_NAME = "techflow_quality"
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
SAMPLE_ROWS = 5
_PLACEHOLDER = re.compile(r"\{(\w+)(?::([\w.,]+))?\}")
#: Dialect methods usable as placeholders over two columns: `{days_between:later,earlier}`.
_TWO_COLUMNS = ("days_between", "seconds_between")



def _context(data_docs: Path, validations: Path):
    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False))
    config.stores[config.validation_results_store_name] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(validations)},
    }
    config.data_docs_sites = {
        SITE_NAME: {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(data_docs)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    }
    config.progress_bars = {"globally": False}
    return gx.get_context(project_config=config, mode="ephemeral")


class QualityRunner:
    """Validates dataset partitions in one warehouse; reuse one instance per process."""

    def __init__(self, warehouse_url: str | None = None, data_dir: Path | None = None):
        self.warehouse_url = warehouse_url or warehouse.warehouse_url()
        self.dialect = Dialect.from_url(self.warehouse_url)
        base = (data_dir or results.data_docs_dir().parent)
        self.data_docs_dir = base / "data_docs"
        self.context = _context(self.data_docs_dir, base / "gx" / "validations")
        if self.dialect.name == "sqlite":
            self.datasource = self.context.data_sources.add_sqlite("warehouse", connection_string=self.warehouse_url)
        else:
            self.datasource = self.context.data_sources.add_postgres("warehouse", connection_string=self.warehouse_url)
        self._suites: dict[str, object] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @property
    def engine(self):
        """This process's warehouse engine (made on first use: a runner built before a fork
        carries no connection into the children)."""
        return warehouse.get_engine(self.warehouse_url)

    def release_connections(self) -> None:
        """Close and forget the engine GX made for this data source (adding a data source tests
        its connection): a process about to fork keeps no open warehouse connection."""
        self._drop_gx_engines(close=True)

    def _adopt(self) -> None:
        """First use in a forked child: drop the engines GX made in the parent, if any, without
        closing the parent's connections (`dispose(close=False)`); the child makes its own."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._drop_gx_engines(close=False)

    def _drop_gx_engines(self, *, close: bool) -> None:
        execution_engine = getattr(self.datasource, "_execution_engine", None)
        engines = {id(e): e for e in (getattr(self.datasource, "_engine", None),
                                      getattr(execution_engine, "engine", None)) if e is not None}
        for engine in engines.values():
            engine.dispose(close=close)
        self.datasource._engine = None
        self.datasource._execution_engine = None

    # --- building GX objects ---------------------------------------------------------------

    def _render(self, check: Check, suite: DatasetSuite, partition: Partition, threshold: float | None) -> str:
        sla = get_registry().pipelines[suite.pipeline_id].freshness_sla
        values = {
            "fresh_cutoff": self.dialect.literal((partition.end - sla).isoformat()),
            "sla_days": str(max(1, sla.days)),
            "rows": "(SELECT * FROM {batch})",
            "batch": "{batch}",
            "start": self.dialect.literal(partition.start.isoformat()),
            "end": self.dialect.literal(partition.end.isoformat()),
            "previous_start": self.dialect.literal(partition.previous().start.isoformat()),
            "month_start": self.dialect.literal(partition.start.replace(day=1).isoformat()),
            "threshold": repr(float(threshold)) if threshold is not None else "NULL",
        }

        def substitute(match: re.Match) -> str:
            name, argument = match.group(1), match.group(2)
            if name == "not_finite":
                return self.dialect.not_finite(argument)
            if name in _TWO_COLUMNS and argument and argument.count(",") == 1:
                return getattr(self.dialect, name)(*argument.split(","))
            if name not in values:
                raise ValueError(f"suite {suite.name}, check {check.name}: unknown placeholder {{{name}}} in its query")
            return values[name]

        return _PLACEHOLDER.sub(substitute, check.query)

    def _expectation(self, check: Check, suite: DatasetSuite, partition: Partition, threshold: float | None):
        meta = {"check": check.name, "severity": check.severity.value, "category": check.category.value}
        common = {"meta": meta, "description": f"[{check.severity.value}] {check.name}: {check.description}"}
        if check.kind is Kind.not_null:
            return gxe.ExpectColumnValuesToNotBeNull(column=check.columns[0], **common)
        if check.kind is Kind.row_count:
            if check.name == "has_rows":
                return gxe.ExpectTableRowCountToBeBetween(min_value=1, **common)
            return gxe.ExpectTableRowCountToBeBetween(
                min_value={"$PARAMETER": "rows_min"}, max_value={"$PARAMETER": "rows_max"}, **common)
        if check.kind is Kind.fresh:
            return gxe.ExpectColumnMaxToBeBetween(
                column=check.columns[0], min_value={"$PARAMETER": "fresh_cutoff"}, **common)
        if check.kind is Kind.unique:
            key = ", ".join(check.columns)
            query = f"SELECT {key}, COUNT(*) AS copies FROM {{batch}} GROUP BY {key} HAVING COUNT(*) > 1"
            return gxe.UnexpectedRowsExpectation(unexpected_rows_query=query, **common)
        query = self._render(check, suite, partition, threshold)
        return gxe.UnexpectedRowsExpectation(unexpected_rows_query=query, **common)

    def _thresholds(self, suite: DatasetSuite) -> dict[str, float | None]:
        targets = get_registry().pipelines[suite.pipeline_id].targets
        return {c.name: targets.get(c.target, c.threshold) if c.target else c.threshold for c in suite.checks}

    def _gx_suite(self, suite: DatasetSuite, partition: Partition):
        # Partition bounds are baked into side-table queries, so suites are per partition.
        key = _gx_name(suite, partition)
        if key not in self._suites:
            thresholds = self._thresholds(suite)
            gx_suite = gx.ExpectationSuite(name=key)
            for check in suite.checks:
                gx_suite.add_expectation(self._expectation(check, suite, partition, thresholds[check.name]))
            self._suites[key] = self.context.suites.add_or_update(gx_suite)
        return self._suites[key]

    def _checkpoint(self, suite: DatasetSuite, partition: Partition):
        name = _gx_name(suite, partition)
        try:
            return self.context.checkpoints.get(name)
        except Exception:  # noqa: BLE001 - GX raises its own not-found types per store
            pass
        column = suite.partition_column
        query = (
            f"SELECT * FROM {suite.dataset} WHERE {column} >= {self.dialect.literal(partition.start.isoformat())} "
            f"AND {column} < {self.dialect.literal(partition.end.isoformat())}"
        )
        asset = self.datasource.add_query_asset(name, query=query)
        batch = asset.add_batch_definition_whole_table("partition")
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=self._gx_suite(suite, partition)))
        return self.context.checkpoints.add(gx.Checkpoint(
            name=name, validation_definitions=[definition], result_format=RESULT_FORMAT,
            actions=[UpdateDataDocsAction(name="data_docs", site_names=[SITE_NAME])],
        ))

    # --- running -----------------------------------------------------------------------------

    def parameters(self, suite: DatasetSuite, partition: Partition) -> dict:
        history = results.row_count_history(suite.dataset, partition.key)
        rows_min, rows_max = results.row_count_bounds(history, suite.min_row_ratio, suite.max_row_ratio)
        sla = get_registry().pipelines[suite.pipeline_id].freshness_sla
        interval_end = datetime.combine(partition.end, datetime.min.time())
        return {"rows_min": rows_min, "rows_max": rows_max if rows_max is not None else 2**62,
                "fresh_cutoff": interval_end - sla}

    def validate(self, dataset: str | DatasetSuite, day: date | datetime, run_id: str, *, record: bool = True) -> QualityResult:
        """Validate the partition of `dataset` covering `day`; record the outcome; never raise on failed checks."""
        suite = SUITES[dataset] if isinstance(dataset, str) else dataset
        partition = Partition.covering(day, suite.grain)
        self._adopt()
        warehouse.get_engine(self.warehouse_url)  # this process's engine: the tables exist before GX reads them
        started = time.perf_counter()
        # GX prints (not warns) a note on stdout for every check reading side tables on purpose.
        with self._lock, contextlib.redirect_stdout(io.StringIO()):
            checkpoint = self._checkpoint(suite, partition)
            parameters = self.parameters(suite, partition)
            run = checkpoint.run(expectation_parameters=parameters, run_id=None)
        (identifier, validation), = run.run_results.items()
        outcomes = []
        row_count = None
        for result in validation.results:
            meta = result.expectation_config.meta
            check = suite.check(meta["check"])
            observed = _observed(result.result)
            error = _raised(result)
            if error:
                observed["error"] = error  # the check could not run: it counts as failed, and says why
            if check.kind is Kind.row_count:
                row_count = result.result.get("observed_value")
                if check.name != "has_rows":
                    observed["accepted"] = [parameters["rows_min"], parameters["rows_max"]]
            if check.kind is Kind.fresh:
                observed["cutoff"] = parameters["fresh_cutoff"].isoformat(sep=" ")
            if not result.success and not error and check.kind in (Kind.unique, Kind.rows_query):
                observed["sample"] = self._sample(result.expectation_config.kwargs["unexpected_rows_query"], suite, partition)
            outcomes.append(CheckOutcome(check.name, check.severity.value, check.category.value, check.description,
                                         bool(result.success), observed))
        outcome = QualityResult(
            pipeline_id=suite.pipeline_id, dataset=suite.dataset, partition_key=partition.key, run_id=run_id,
            validated_at=datetime.now(timezone.utc), outcomes=tuple(outcomes), row_count=row_count,
            data_docs_path=self._docs_page(identifier), duration_seconds=time.perf_counter() - started,
        )
        if record:
            outcome = _with_id(outcome, results.record(outcome))
        return outcome

    def _sample(self, query: str, suite: DatasetSuite, partition: Partition) -> list[dict]:
        column = suite.partition_column
        batch = (f"(SELECT * FROM {suite.dataset} WHERE {column} >= {self.dialect.literal(partition.start.isoformat())} "
                 f"AND {column} < {self.dialect.literal(partition.end.isoformat())}) AS subselect")
        sql = f"SELECT * FROM ({query.replace('{batch}', batch)}) AS violations LIMIT {SAMPLE_ROWS}"
        with self.engine.connect() as conn:
            return [{k: _plain(v) for k, v in row._mapping.items()} for row in conn.execute(text(sql))]

    def _docs_page(self, identifier) -> str | None:
        urls = self.context.get_docs_sites_urls(resource_identifier=identifier, site_name=SITE_NAME)
        for entry in urls:
            url = entry.get("site_url") or ""
            if url.startswith("file://"):
                page = Path(url[len("file://"):])
                try:
                    return str(page.relative_to(self.data_docs_dir))
                except ValueError:
                    return str(page)
        return None


def _gx_name(suite: DatasetSuite, partition: Partition) -> str:
    """Names of the GX suite/asset/checkpoint; an ad-hoc suite (not the registered one for
    its dataset) gets a digest of its checks so it never reuses the registered suite's objects."""
    name = f"{suite.name}.{partition.key}"
    if SUITES.get(suite.dataset) != suite:
        name += "." + hashlib.sha1(repr(suite.checks).encode()).hexdigest()[:8]
    return name


def _with_id(result: QualityResult, row_id: int) -> QualityResult:
    return replace(result, id=row_id)


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _raised(result) -> str | None:
    info = result.exception_info or {}
    candidates = [info] if "raised_exception" in info else list(info.values())
    for entry in candidates:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return str(entry.get("exception_message"))[:500]
    return None


def _observed(result: dict) -> dict:
    keep = ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "missing_count")
    # observed_value None is itself an observation (the newest value of an empty partition).
    return {k: _plain(result[k]) for k in keep if k in result and (result[k] is not None or k == "observed_value")}


def enforce(result: QualityResult) -> QualityResult:
    """Raise DataQualityFailure when a critical check failed; warnings pass through."""
    if result.failed_critical:
        raise DataQualityFailure(result.summary(), details={
            "failed_expectations": results.failed_expectations([result]), "results": [result.as_dict()]},
            failure_mode=failure_mode([result]))
    return result


_runners: dict[tuple[str, Path], QualityRunner] = {}


def get_runner(warehouse_url: str | None = None) -> QualityRunner:
    """The runner of this process (and of its forked children) for the warehouse and data folder;
    built once: the GX context, data source and suites are reused by every validation."""
    url = warehouse_url or warehouse.warehouse_url()
    key = (url, results.data_docs_dir().parent)
    runner = _runners.get(key)
    if runner is None:
        runner = _runners[key] = QualityRunner(url, key[1])
    return runner


def prepare_runner(warehouse_url: str | None = None) -> QualityRunner:
    """Build the runner for the configured warehouse (from the environment; Airflow connections
    stored in the metadata DB are not read here) in a process about to fork task processes: the
    GX context and data source, no engine and no connection. A task whose warehouse URL differs
    builds its own runner."""
    runner = get_runner(warehouse_url)
    runner.release_connections()
    return runner
