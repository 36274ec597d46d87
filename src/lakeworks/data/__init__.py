"""Data access for workloads: Spark session configuration (and, later, Iceberg catalogs)."""
