"""model_deployments.reason: why a deployment failed (e.g. its queued build failed)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_deployments") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("model_deployments") as batch:
        batch.drop_column("reason")
