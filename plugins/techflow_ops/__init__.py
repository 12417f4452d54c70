"""TechFlow Ops: ownership, on-call, escalation and data quality for TechFlow's Airflow pipelines."""

__version__ = "0.1.0"
