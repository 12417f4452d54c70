"""Aggregated executive / investor report: the Airflow DAG, built from the registry (include/config/pipelines.yaml) by the DAG factory."""

from techflow_ops.pipelines.dag_factory import build_pipeline_dag

dag = build_pipeline_dag("executive_investor")
