"""The Spark add-on: ``SparkSession.builder.getOrCreate()`` with no configuration, Hive tables
on the project's metastore: a job writes a table, a later job reads it; with the shared
metastore (a Derby network server), two jobs of one project at once write and read each
other's tables. (JVM starts: slow.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from lakeworks.data import metastore, spark
from lakeworks.entities.jobs import JobRun, RunStatus
from lakeworks.entities.projects import Project
from lakeworks.services import job_runs, jobs, workloads
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal

WRITE = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("MASTER", spark.sparkContext.master)
print("CATALOG", spark.conf.get("spark.sql.catalogImplementation"))
rows = [("Oslo", 763), ("Lima", 16)]
spark.createDataFrame(rows, ["city", "rain_mm"]).write.mode("overwrite").saveAsTable("rain")
spark.stop()
"""

READ = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
total = spark.sql("SELECT SUM(rain_mm) AS total FROM rain").collect()[0]["total"]
print("TOTAL", total)
print("TABLES", [t.name for t in spark.catalog.listTables()])
spark.stop()
"""


# Each job writes its table, then waits (its JVM still connected to the metastore) until the
# other job's table appears and reads it: both Spark drivers use the catalog at once.
TOGETHER = """
import sys, time
from pyspark.sql import SparkSession
me, other = sys.argv[1], sys.argv[2]
spark = SparkSession.builder.getOrCreate()
print("METASTORE", spark.sparkContext.getConf().get("spark.hadoop.javax.jdo.option.ConnectionURL"))
spark.createDataFrame([(me, 1)], ["who", "n"]).write.mode("overwrite").saveAsTable("from_" + me)
deadline = time.time() + 400
while not spark.catalog.tableExists("from_" + other):
    if time.time() > deadline:
        raise SystemExit("the other job's table never appeared")
    time.sleep(1)
print("READ", spark.sql(f"SELECT who FROM from_{other}").collect()[0]["who"])
spark.stop()
"""


@pytest.fixture
def shared_metastore(job_platform: Platform) -> Iterator[metastore.DerbyMetastore]:
    missing = metastore.available()
    if missing:
        pytest.skip(missing)
    job_platform.metastore.start()
    yield job_platform.metastore
    job_platform.metastore.stop()


def test_spark_defaults_text() -> None:
    text = spark.defaults("/home/cdsw", "", ui=False)
    assert "spark.master local[*]\n" in text
    assert "spark.sql.catalogImplementation hive\n" in text
    assert "databaseName=/home/cdsw/.lakeworks/spark/metastore_db;create=true" in text
    assert "spark.ui.enabled false" in text
    configured = spark.defaults("/home/cdsw", "spark://spark-master:7077", ui=True)
    assert "spark.master spark://spark-master:7077\n" in configured
    assert "spark.ui.port ${env:SPARK_UI_PORT}" in configured


@pytest.mark.timeout(900)  # two JVM starts on a shared, slow machine
def test_a_table_written_by_one_job_is_read_by_a_later_one(
    job_platform: Platform,
    owner_principal: Principal,
    project: Project,
    wait_for: Callable[..., JobRun],
) -> None:
    root = job_platform.settings.projects_dir / project.id
    (root / "write.py").write_text(WRITE)
    (root / "read.py").write_text(READ)

    def run(script: str) -> str:
        job = jobs.create(
            job_platform,
            owner_principal,
            project.id,
            JobFields(name=script, script=script, memory_mb=4096, cpu=2),
        )
        started = job_runs.trigger(job_platform, owner_principal, project.id, job.id)
        ended = wait_for(started.id, {RunStatus.SUCCEEDED, RunStatus.FAILED}, timeout=300)
        assert ended.workload_id
        log, _ = workloads.read_log(job_platform, workloads.get(job_platform, ended.workload_id))
        text = log.decode(errors="replace")
        assert ended.status is RunStatus.SUCCEEDED, text[-4000:]
        return text

    written = run("write.py")
    assert "MASTER local[*]" in written
    assert "CATALOG hive" in written
    assert (root / ".lakeworks/spark/warehouse/rain").is_dir()
    read = run("read.py")
    assert "TOTAL 779" in read
    assert "TABLES ['rain']" in read


@pytest.mark.timeout(1200)  # two Spark drivers at once on a shared, slow machine
def test_two_jobs_of_a_project_share_the_metastore_at_once(
    job_platform: Platform,
    owner_principal: Principal,
    project: Project,
    wait_for: Callable[..., JobRun],
    shared_metastore: metastore.DerbyMetastore,
) -> None:
    root = job_platform.settings.projects_dir / project.id
    (root / "together.py").write_text(TOGETHER)
    started = []
    for me, other in (("a", "b"), ("b", "a")):
        job = jobs.create(
            job_platform,
            owner_principal,
            project.id,
            JobFields(
                name=f"spark {me}",
                script="together.py",
                arguments=f"{me} {other}",
                memory_mb=4096,
                cpu=1,
                timeout_seconds=900,
            ),
        )
        started.append(job_runs.trigger(job_platform, owner_principal, project.id, job.id))
    logs = {}
    for me, run in zip("ab", started, strict=True):
        ended = wait_for(run.id, {RunStatus.SUCCEEDED, RunStatus.FAILED}, timeout=900)
        assert ended.workload_id
        log, _ = workloads.read_log(job_platform, workloads.get(job_platform, ended.workload_id))
        logs[me] = log.decode(errors="replace")
        assert ended.status is RunStatus.SUCCEEDED, logs[me][-4000:]
    url = f"jdbc:derby://127.0.0.1:{shared_metastore.port}/project_{project.id}"
    assert f"METASTORE {url}" in logs["a"]
    assert "READ b" in logs["a"]
    assert "READ a" in logs["b"]
    assert "XSDB6" not in logs["a"] + logs["b"]
    # The metastore's tables were made before either job connected: no megabytes of stack
    # traces from two first uses racing to create them (Hive still retries its default rows).
    assert all(len(log) < 300_000 for log in logs.values())
    # The tables' data is in the project's warehouse; the catalog is not in the project.
    assert (root / ".lakeworks/spark/warehouse/from_a").is_dir()
    assert not (root / ".lakeworks/spark/metastore_db").exists()
    # The password is the workloads' (their environment), not in the files viewers read.
    password = shared_metastore.connection(project.id).password
    conf = (root / ".lakeworks/spark/conf/spark-defaults.conf").read_text()
    assert "ConnectionPassword ${env.LAKEWORKS_SPARK_METASTORE_PASSWORD}" in conf
    assert not any(password in p.read_text(errors="replace") for p in root.rglob("*.conf"))
