"""Spark for every workload, with no configuration in user code (CML compat §11).

``SparkSession.builder.getOrCreate()`` reads ``$SPARK_CONF_DIR/spark-defaults.conf``. Lakeworks
writes one per project, under the project's data (``.lakeworks/spark/conf``), so:

- the master is local mode (``local[*]``, bounded by the workload's CPU limit) unless the
  ``spark_master`` setting names a standalone (``spark://``) or Kubernetes (``k8s://``) master;
- Hive support is on, with a warehouse in the project (``.lakeworks/spark/warehouse``) and
  the project's database on the shared metastore (``data/metastore.py``: a Derby network
  server, one database and one user per project): tables written by a session are there for
  the project's other sessions, jobs and applications, at the same time, and no other
  project sees them. Where the shared metastore does not run, Derby is embedded
  (``.lakeworks/spark/metastore_db``), which admits one JVM at a time: two Spark workloads
  of one project at once get "Another instance of Derby may have already booted the
  database";
- scratch space (``spark.local.dir``) is in the workload's private ``/tmp``;
- Hadoop looks up no Unix groups (``core-site.xml``: the workload's user has none in the
  sandbox);
- logging is Spark's default at WARN less the start-up warnings nobody can act on
  (``log4j2.properties``);
- the Spark UI listens on ``SPARK_UI_PORT`` when the workload has one (sessions with the
  Spark add-on), else it is off, so unrelated workloads never race for port 4040.

Iceberg is not configured: its runtime jar would have to come from Maven at run time.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from lakeworks import safe_paths
from lakeworks.errors import LakeworksError

if TYPE_CHECKING:
    from lakeworks.data.metastore import Connection

SPARK_DIR = ".lakeworks/spark"
# Hadoop's own settings, read from ``core-site.xml`` on the classpath (Spark puts
# ``SPARK_CONF_DIR`` there). The workload's user is not in the sandbox's /etc/passwd, so
# Hadoop's default group lookup (``id <user>``, when Hive writes a table) fails and logs a
# stack trace into the notebook cell; groups decide nothing here. (``spark.hadoop.*`` does
# not reach it: Hadoop's group service is set up from its own configuration.)
CORE_SITE = b"""<?xml version="1.0"?>
<configuration>
  <property>
    <name>hadoop.security.group.mapping</name>
    <value>org.apache.hadoop.security.NullGroupsMapping</value>
  </property>
</configuration>
"""
# Spark's own logging defaults (its ``log4j2-defaults.properties``) at WARN, as pyspark sets,
# less the warnings every Hive-enabled start prints and no one can act on ("HiveConf of name
# ... does not exist", "Failed to get database default", the native-hadoop library): they
# filled the first notebook cell of every workshop. Other warnings still show.
LOG4J2 = b"""rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.jetty.name = org.sparkproject.jetty
logger.jetty.level = warn
logger.jetty2.name = org.sparkproject.jetty.util.component.AbstractLifeCycle
logger.jetty2.level = error
logger.metastore.name = org.apache.hadoop.hive.metastore.RetryingHMSHandler
logger.metastore.level = fatal
logger.hive_functionregistry.name = org.apache.hadoop.hive.ql.exec.FunctionRegistry
logger.hive_functionregistry.level = error
logger.parquet.name = org.apache.parquet.CorruptStatistics
logger.parquet.level = error
logger.parquet2.name = parquet.CorruptStatistics
logger.parquet2.level = error
logger.hiveconf.name = org.apache.hadoop.hive.conf.HiveConf
logger.hiveconf.level = error
logger.objectstore.name = org.apache.hadoop.hive.metastore.ObjectStore
logger.objectstore.level = error
logger.sessionstate.name = org.apache.hadoop.hive.ql.session.SessionState
logger.sessionstate.level = error
logger.nativecode.name = org.apache.hadoop.util.NativeCodeLoader
logger.nativecode.level = error
"""
JAVA_VERSIONS = ("17", "11")  # Spark 3.5 runs on Java 8/11/17, not on newer ones


def java_home(configured: str = "") -> str:
    """A JDK Spark 3.5 can run on: ``configured`` (``Settings.java_home``) when it holds
    ``bin/java``, else Java 17 or 11 under /usr/lib/jvm, else the ``java`` on PATH; "" if none
    is installed."""
    if configured and Path(configured, "bin", "java").exists():
        return configured
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        for version in JAVA_VERSIONS:
            for candidate in sorted(jvm.glob(f"*{version}*")):
                if (candidate / "bin" / "java").exists():
                    return str(candidate.resolve())
    java = shutil.which("java")
    return str(Path(java).resolve().parent.parent) if java else ""


# The workload's variable holding its project's metastore password (see ``defaults``).
PASSWORD_VARIABLE = "LAKEWORKS_SPARK_METASTORE_PASSWORD"


def defaults(
    project_home: str, master: str, *, ui: bool, metastore: Connection | None = None
) -> str:
    """The ``spark-defaults.conf`` text for a project seen at ``project_home``."""
    base = f"{project_home}/{SPARK_DIR}"
    lines = {
        "spark.master": master or "local[*]",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": f"{base}/warehouse",
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={base}/metastore_db;create=true"
        ),
    }
    if metastore is not None:
        lines |= {
            "spark.hadoop.javax.jdo.option.ConnectionURL": metastore.url,
            "spark.hadoop.javax.jdo.option.ConnectionDriverName": metastore.driver,
            "spark.hadoop.javax.jdo.option.ConnectionUserName": metastore.user,
            # Hadoop's Configuration expands ${env.NAME}: the password reaches the workload in
            # its environment, never in the project's files (which every viewer reads).
            "spark.hadoop.javax.jdo.option.ConnectionPassword": f"${{env.{PASSWORD_VARIABLE}}}",
            "spark.driver.extraClassPath": metastore.classpath,
        }
    lines |= {
        "spark.hadoop.datanucleus.schema.autoCreateAll": "true",
        "spark.hadoop.hive.metastore.schema.verification": "false",
        "spark.local.dir": "/tmp/spark-local",
        "spark.driver.extraJavaOptions": "-Dderby.system.home=/tmp/spark-derby",
        "spark.ui.enabled": "true" if ui else "false",
        "spark.ui.showConsoleProgress": "false",
    }
    if ui:
        lines["spark.ui.port"] = "${env:SPARK_UI_PORT}"
    return "".join(f"{key} {value}\n" for key, value in lines.items())


def prepare(
    project_dir: Path,
    project_home: str,
    master: str,
    *,
    ui: bool,
    metastore: Connection | None = None,
    java: str = "",
) -> dict[str, str]:
    """Write the project's Spark configuration; return the variables that select it.

    The folder is the project's, so a workload may have planted links in it (``conf`` ->
    ``/etc``, ``spark-defaults.conf.new`` -> a host file): the file is read and replaced
    through ``safe_paths``, never through a link, and a link on the way fails the start.
    ``java`` is the configured JDK (``Settings.java_home``; see ``java_home``).
    """
    text = defaults(project_home, master, ui=ui, metastore=metastore).encode()
    # One folder per variant (UI or not): concurrent workloads never rewrite a file in use.
    name = "conf-ui" if ui else "conf"
    _write_if_changed(project_dir, f"{SPARK_DIR}/{name}/spark-defaults.conf", text)
    _write_if_changed(project_dir, f"{SPARK_DIR}/{name}/core-site.xml", CORE_SITE)
    _write_if_changed(project_dir, f"{SPARK_DIR}/{name}/log4j2.properties", LOG4J2)
    env = {"SPARK_CONF_DIR": f"{project_home}/{SPARK_DIR}/{name}"}
    if metastore is not None:
        env[PASSWORD_VARIABLE] = metastore.password
    home = java_home(java)
    if home:
        env["JAVA_HOME"] = home
    return env


def _write_if_changed(project_dir: Path, rel: str, text: bytes) -> None:
    try:
        current = safe_paths.read_bytes(project_dir, rel, max_bytes=len(text))
    except (FileNotFoundError, LakeworksError):
        current = b""  # missing, too long, or not a plain file: written afresh below
    if current != text:
        safe_paths.write_bytes(project_dir, rel, text)
