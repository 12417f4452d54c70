"""Data quality: suites per dataset, validated with Great Expectations inside the warehouse.

`checks` and `suites` are plain Python (safe at DAG-parse time); `validation` imports Great
Expectations and is only imported inside task callables and the CLI.
"""
