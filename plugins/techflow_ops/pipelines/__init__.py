"""TechFlow's five pipelines: synthetic landing data, the warehouse, pure transforms and the DAG factory.

Only `dag_factory` knows Airflow; everything else is plain Python + SQLAlchemy Core, so the
demo, the tests and the benchmarks run it without a scheduler.
"""
