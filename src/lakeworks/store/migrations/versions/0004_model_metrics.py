"""model metrics store and gateway request samples

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "model_predictions",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("deployment_id", sa.String(length=64), nullable=False),
        sa.Column("build_id", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=64), nullable=False),
        sa.Column("prediction_uuid", sa.String(length=64), nullable=True),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_model_predictions")),
    )
    op.create_index(
        "ix_model_predictions_deployment_start",
        "model_predictions",
        ["deployment_id", "start_ms"],
    )
    op.create_index(
        "ix_model_predictions_model_start", "model_predictions", ["model_id", "start_ms"]
    )
    op.create_index(
        "ix_model_predictions_build_start", "model_predictions", ["build_id", "start_ms"]
    )
    op.create_index(
        "uq_model_predictions_prediction_uuid",
        "model_predictions",
        ["prediction_uuid"],
        unique=True,
    )
    op.create_table(
        "model_requests",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("model_id", sa.String(length=64), nullable=False),
        sa.Column("deployment_id", sa.String(length=64), nullable=True),
        sa.Column("replica_id", sa.String(length=64), nullable=True),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_model_requests")),
    )
    op.create_index("ix_model_requests_model_at", "model_requests", ["model_id", "at_ms"])
    op.create_index("ix_model_requests_deployment_at", "model_requests", ["deployment_id", "at_ms"])


def downgrade() -> None:
    op.drop_table("model_requests")
    op.drop_table("model_predictions")
