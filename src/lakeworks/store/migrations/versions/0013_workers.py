"""workloads.parent_id, workloads.name: workers of a session or job run (compat §12)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workloads") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(16), nullable=True))
        batch.add_column(sa.Column("name", sa.String(200), nullable=False, server_default=""))
        batch.create_index("ix_workloads_parent_id", ["parent_id"])


def downgrade() -> None:
    with op.batch_alter_table("workloads") as batch:
        batch.drop_index("ix_workloads_parent_id")
        batch.drop_column("name")
        batch.drop_column("parent_id")
