"""Spark's Iceberg settings: applied only where the Iceberg Spark runtime jar is, the same on
the server's side (``PYSPARK_SUBMIT_ARGS`` for plain ``getOrCreate()``) and in
``cml.data_v1``'s ``get_spark_session()``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lakeworks.data import iceberg_spark
from lakeworks.workload import site_dir


def test_the_jar_is_found_only_where_it_is(tmp_path: Path) -> None:
    jar = tmp_path / "iceberg-spark-runtime-3.5_2.12-1.9.2.jar"
    assert iceberg_spark.find_jar(str(jar)) == ""
    jar.write_bytes(b"PK")
    assert iceberg_spark.find_jar(str(jar)) == str(jar)


def test_submit_args_name_the_projects_rest_catalog() -> None:
    args = iceberg_spark.submit_args(
        "/usr/share/java/i.jar", "http://h/api/iceberg/projects/p", "k"
    )
    assert args.split() == [
        "--conf",
        "spark.jars=/usr/share/java/i.jar",
        "--conf",
        f"spark.sql.extensions={iceberg_spark.EXTENSIONS}",
        "--conf",
        "spark.sql.catalog.spark_catalog=org.apache.iceberg.spark.SparkSessionCatalog",
        "--conf",
        "spark.sql.catalog.spark_catalog.type=rest",
        "--conf",
        "spark.sql.catalog.spark_catalog.uri=http://h/api/iceberg/projects/p",
        "--conf",
        "spark.sql.catalog.spark_catalog.token=k",
        "pyspark-shell",
    ]


def test_the_workload_library_applies_the_same_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.syspath_prepend(str(site_dir()))
    for name in [m for m in sys.modules if m == "cml" or m.startswith("cml.")]:
        monkeypatch.delitem(sys.modules, name)
    import cml.data_v1 as data_v1

    jar = tmp_path / "iceberg-spark-runtime.jar"
    jar.write_bytes(b"PK")
    monkeypatch.setenv("LAKEWORKS_ICEBERG_SPARK_JAR", str(jar))
    monkeypatch.setenv("LAKEWORKS_ICEBERG_URI", "http://h/api/iceberg/projects/p")
    monkeypatch.setenv("CDSW_APIV2_KEY", "k")
    found = data_v1.iceberg_spark_jar()
    assert found == str(jar)
    assert data_v1.iceberg_spark_conf(found) == iceberg_spark.spark_conf(
        str(jar), "http://h/api/iceberg/projects/p", "k"
    )
    assert data_v1.iceberg_spark_conf("") == {}
