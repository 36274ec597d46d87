"""Spark with the project's Iceberg tables, where a site has Iceberg's Spark runtime jar (it is
not on the package index, so Lakeworks ships none).

When the jar is found (``LAKEWORKS_ICEBERG_SPARK_JAR``, else the first of ``JAR_PATTERNS``), a
project's workloads get it read-only at its path and ``PYSPARK_SUBMIT_ARGS`` with the settings
below, so a plain ``SparkSession.builder.getOrCreate()`` (and ``cml.data_v1``'s
``get_spark_session()``, which applies the same settings) reads and writes the project's
tables through its Iceberg REST catalog: ``spark_catalog`` becomes Iceberg's
``SparkSessionCatalog`` (Iceberg tables in the project's catalog, other tables in Spark's Hive
metastore as before). The token is the workload's own key (``CDSW_APIV2_KEY``); it is never
written to a file.
"""

from __future__ import annotations

import glob
import os

JAR_PATTERNS = (
    "/usr/share/java/iceberg-spark-runtime*.jar",
    "/opt/spark/optional-lib/iceberg-spark-runtime*.jar",
)
EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"


def find_jar(configured: str) -> str:
    """The Iceberg Spark runtime jar to give workloads, or "" when there is none."""
    if configured:
        return configured if os.path.isfile(configured) else ""
    for pattern in JAR_PATTERNS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[-1]
    return ""


def spark_conf(jar: str, uri: str, token: str) -> dict[str, str]:
    """The Spark settings that put the project's Iceberg REST catalog behind
    ``spark_catalog`` (docs/architecture.md, data room, lists them)."""
    conf = {
        "spark.jars": jar,
        "spark.sql.extensions": EXTENSIONS,
        "spark.sql.catalog.spark_catalog": "org.apache.iceberg.spark.SparkSessionCatalog",
        "spark.sql.catalog.spark_catalog.type": "rest",
        "spark.sql.catalog.spark_catalog.uri": uri,
    }
    if token:
        conf["spark.sql.catalog.spark_catalog.token"] = token
    return conf


def submit_args(jar: str, uri: str, token: str) -> str:
    """``PYSPARK_SUBMIT_ARGS`` carrying ``spark_conf`` (pyspark requires the final
    ``pyspark-shell``)."""
    parts = [f"--conf {key}={value}" for key, value in spark_conf(jar, uri, token).items()]
    return " ".join([*parts, "pyspark-shell"])
