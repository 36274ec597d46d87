"""jobs.kind: "job", or "experiment" for the hidden job of a legacy experiment run (issue 14)

A legacy experiment run (CML compat §3.4) is a job run of its own job, with kind
"experiment": such jobs are not listed with the project's jobs.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="job"))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("kind")
