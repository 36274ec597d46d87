"""iceberg_tables, iceberg_namespace_properties (Iceberg's JDBC catalog), data_connections

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The JDBC catalog's schema (V1, with iceberg_type), as Iceberg's JdbcCatalog and
    # pyiceberg's SqlCatalog create it: a Spark with the Iceberg runtime reads these rows.
    op.create_table(
        "iceberg_tables",
        sa.Column("catalog_name", sa.String(255), nullable=False),
        sa.Column("table_namespace", sa.String(255), nullable=False),
        sa.Column("table_name", sa.String(255), nullable=False),
        sa.Column("metadata_location", sa.String(1000), nullable=True),
        sa.Column("previous_metadata_location", sa.String(1000), nullable=True),
        sa.Column("iceberg_type", sa.String(5), nullable=True),
        sa.PrimaryKeyConstraint(
            "catalog_name", "table_namespace", "table_name", name="pk_iceberg_tables"
        ),
    )
    op.create_table(
        "iceberg_namespace_properties",
        sa.Column("catalog_name", sa.String(255), nullable=False),
        sa.Column("namespace", sa.String(255), nullable=False),
        sa.Column("property_key", sa.String(255), nullable=False),
        sa.Column("property_value", sa.String(1000), nullable=True),
        sa.PrimaryKeyConstraint(
            "catalog_name", "namespace", "property_key", name="pk_iceberg_namespace_properties"
        ),
    )
    op.create_table(
        "data_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(19), nullable=False),
        sa.Column("project_id", sa.String(19), nullable=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_data_connections_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_data_connections"),
        sa.UniqueConstraint("scope", "name", name="uq_data_connections_scope_name"),
    )
    op.create_index("ix_data_connections_project_id", "data_connections", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_data_connections_project_id", table_name="data_connections")
    op.drop_table("data_connections")
    op.drop_table("iceberg_namespace_properties")
    op.drop_table("iceberg_tables")
