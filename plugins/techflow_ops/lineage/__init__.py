"""Ownership beyond Airflow: OpenLineage facets and catalog exports.

- `ownership`: typed owners (`user:<id>` PRIMARY_OWNER / SECONDARY_OWNER, `team:<id>`
  BUSINESS_OWNER, the on-call primary ONCALL) and the operations facts (tier, SLAs, runbook,
  rotation, escalation routes). Pure; no Airflow, no OpenLineage.
- `datasets`: what each pipeline task reads and writes, as OpenLineage dataset names.
- `facets`: the OpenLineage facets (standard `ownership`, `dataQualityAssertions`; custom
  `techflowOperations`, `techflowIncident`, schemas in `schemas/`) and `task_lineage()`, which
  the pipeline operators' `get_openlineage_facets_on_*` hooks return (`pipelines.dag_factory`).
- `transformer`: the OpenLineage client transformer that types the provider's `ownership`.
- `export`, `cli`: `techflow-ops ownership export --format openmetadata|datahub|json`.

Nothing here is imported while a DAG file is parsed.
"""
