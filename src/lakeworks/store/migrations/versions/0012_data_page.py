"""data_queries, data_datasets, data_dashboards, data_visuals: the Data page (issue 16)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_queries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(19), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("elapsed_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_data_queries_owner", "data_queries", ["project_id", "user_id", "id"])
    op.create_table(
        "data_datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(19), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["creator_id"], ["users.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_data_datasets_project_name", "data_datasets", ["project_id", "name"], unique=True
    )
    op.create_table(
        "data_dashboards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(19), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("subtitle", sa.Text(), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["creator_id"], ["users.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_data_dashboards_project", "data_dashboards", ["project_id"])
    op.create_table(
        "data_visuals",
        sa.Column("dashboard_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("dimensions", sa.JSON(), nullable=False),
        sa.Column("measures", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["dashboard_id"], ["data_dashboards.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["dataset_id"], ["data_datasets.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("dashboard_id", "position"),
    )
    op.create_index("ix_data_visuals_dataset_id", "data_visuals", ["dataset_id"])


def downgrade() -> None:
    op.drop_index("ix_data_visuals_dataset_id", table_name="data_visuals")
    op.drop_table("data_visuals")
    op.drop_index("ix_data_dashboards_project", table_name="data_dashboards")
    op.drop_table("data_dashboards")
    op.drop_index("ix_data_datasets_project_name", table_name="data_datasets")
    op.drop_table("data_datasets")
    op.drop_index("ix_data_queries_owner", table_name="data_queries")
    op.drop_table("data_queries")
