"""Investor and executive reports as delivered: frozen snapshots, Business Analytics sign-off,
and each period's readiness.

`snapshots` is plain Python over SQLAlchemy Core on the warehouse engine (the tables are in
`pipelines.warehouse`); the executive_investor publish step calls `snapshots.freeze_due`,
`cli` registers `techflow-ops reports`, and the On-call view reads `snapshots.readiness`.
"""
