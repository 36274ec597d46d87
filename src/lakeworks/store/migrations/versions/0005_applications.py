"""applications

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.String(length=19), nullable=False),
        sa.Column("project_id", sa.String(length=19), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("subdomain", sa.String(length=63), nullable=False),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("runtime_identifier", sa.Text(), nullable=False),
        sa.Column("cpu", sa.Float(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("gpu", sa.Integer(), nullable=False),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("bypass_authentication", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("workload_id", sa.String(length=16), nullable=True),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("port_name", sa.String(length=32), nullable=False),
        sa.Column("restarts", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starting_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("running_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_applications_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["users.id"],
            name=op.f("fk_applications_creator_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("subdomain", name="uq_applications_subdomain"),
    )
    op.create_index("ix_applications_project_id", "applications", ["project_id"])
    op.create_index("ix_applications_status", "applications", ["status"])
    op.create_index("ix_applications_workload_id", "applications", ["workload_id"])


def downgrade() -> None:
    op.drop_index("ix_applications_workload_id", table_name="applications")
    op.drop_index("ix_applications_status", table_name="applications")
    op.drop_index("ix_applications_project_id", table_name="applications")
    op.drop_table("applications")
