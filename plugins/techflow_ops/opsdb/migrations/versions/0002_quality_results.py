"""Data quality: one row per dataset validation (pass/warn/fail, failed checks, Data Docs page).

Revision ID: 0002_quality_results
Revises: 0001_escalation
"""

from alembic import op

from techflow_ops.quality.tables import quality_results

revision = "0002_quality_results"
down_revision = "0001_escalation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    quality_results.create(op.get_bind())


def downgrade() -> None:
    quality_results.drop(op.get_bind())
