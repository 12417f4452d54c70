"""The ops-DB table of validation results (created by the `quality_results` Alembic revision)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from ..opsdb.schema import UTCDateTime, metadata

quality_results = Table(
    "quality_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline_id", String(200), nullable=False),
    Column("dataset", String(200), nullable=False),
    Column("partition_key", String(32), nullable=False),  # "2026-11-05" (daily) or "2026-11" (monthly)
    Column("run_id", String(250), nullable=False),
    Column("status", String(16), nullable=False),  # passed | warned | failed
    Column("success", Boolean, nullable=False),  # no critical check failed
    Column("evaluated", Integer, nullable=False),
    Column("failed_critical", Integer, nullable=False),
    Column("failed_warning", Integer, nullable=False),
    Column("row_count", Integer),
    Column("checks", Text, nullable=False),  # JSON list of check outcomes
    Column("data_docs_path", Text),  # the GX Data Docs page of this validation, relative to the site
    Column("validated_at", UTCDateTime, nullable=False),
    Column("duration_seconds", Float, nullable=False, default=0.0),
)

Index("ix_quality_results_dataset_time", quality_results.c.dataset, quality_results.c.validated_at)
Index("ix_quality_results_pipeline_time", quality_results.c.pipeline_id, quality_results.c.validated_at)
