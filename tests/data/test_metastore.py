"""The shared Spark metastore (a Derby network server): a database per project, reachable
only with that project's credentials, which cannot reach Derby's file procedures or make
databases. Talks to the real server with Derby's own client (``ij``)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.scheduler.conftest import RUNTIME_CACHE

from lakeworks.data import metastore
from lakeworks.data.spark import java_home


@pytest.fixture
def derby(tmp_path: Path) -> Iterator[metastore.DerbyMetastore]:
    missing = metastore.available()
    if missing:
        pytest.skip(missing)
    server = metastore.DerbyMetastore(tmp_path / "metastore", "a-secret-key-for-this-test-only")
    server.start()
    yield server
    server.stop()
    assert not server.running


def ij(*statements: str) -> str:
    """Run statements with Derby's ``ij`` over the network client; its output."""
    classpath = ":".join(str(metastore.JARS / j) for j in (metastore.CLIENT_JAR, "derbytools.jar"))
    done = subprocess.run(
        [str(Path(java_home(), "bin", "java")), "-cp", classpath, "org.apache.derby.tools.ij"],
        input="".join(s + ";\n" for s in (*statements, "exit")).encode(),
        capture_output=True,
        timeout=120,
    )
    return done.stdout.decode(errors="replace")


def connect(c: metastore.Connection, user: str = "", password: str = "") -> str:
    return f"connect '{c.url};user={user or c.user};password={password or c.password}'"


def test_each_project_has_its_own_database_and_credentials(
    derby: metastore.DerbyMetastore,
) -> None:
    alpha = derby.connection("alph-aaaa-1111-2222")
    beta = derby.connection("beta-bbbb-3333-4444")
    assert alpha.url.endswith("/project_alph-aaaa-1111-2222") and alpha.user != beta.user
    assert alpha.password != beta.password
    # Asking again (a second workload of the project) gives the same connection.
    assert derby.connection("alph-aaaa-1111-2222") == alpha

    out = ij(
        connect(alpha),
        "create table cities(name varchar(20))",
        "insert into cities values ('Oslo')",
        "select name from cities",
    )
    assert "Oslo" in out and "ERROR" not in out

    # Beta's user (or a wrong password) gets nowhere in alpha's database.
    assert "ERROR 08004" in ij(connect(alpha, beta.user, beta.password))
    assert "ERROR 08004" in ij(connect(alpha, alpha.user, beta.password))
    # A project user cannot create databases, nor use Derby's file procedures in its own.
    new_db = alpha.url.rsplit("/", 1)[0] + "/elsewhere;create=true"
    assert "ERROR 08004" in ij(f"connect '{new_db};user={alpha.user};password={alpha.password}'")
    export = ij(
        connect(alpha),
        "CALL SYSCS_UTIL.SYSCS_EXPORT_TABLE(null, 'CITIES', '/tmp/cities.csv', null, null, null)",
    )
    assert "ERROR 42504" in export  # no EXECUTE permission
    assert not (derby.home / "elsewhere").exists()


def test_a_restarted_server_keeps_the_projects_tables(derby: metastore.DerbyMetastore) -> None:
    alpha = derby.connection("alph-aaaa-1111-2222")
    assert "ERROR" not in ij(
        connect(alpha), "create table kept(n int)", "insert into kept values (7)"
    )
    derby.stop()
    derby.start()
    again = derby.connection("alph-aaaa-1111-2222")
    assert again.password == alpha.password
    assert "7" in ij(connect(again), "select n from kept")


def test_it_refuses_what_is_not_a_project_id(derby: metastore.DerbyMetastore) -> None:
    with pytest.raises(ValueError):
        derby.connection("../x;create=true")


def test_a_new_project_database_gets_the_metastore_tables_first(
    derby: metastore.DerbyMetastore,
) -> None:
    """Created once by the server (DataNucleus' SchemaTool with the runtime's jars), so two
    Spark workloads starting at once never race to create them."""
    jars = next(
        (j for r in sorted(RUNTIME_CACHE.glob("python3*")) if (j := metastore.spark_jars(r))),
        None,
    )
    if jars is None:
        pytest.skip(f"no runtime with Spark in {RUNTIME_CACHE} (scripts/test builds one)")
    alpha = derby.connection("alph-aaaa-1111-2222", jars)
    tables = ij(connect(alpha), "select tablename from sys.systables where tabletype = 'T'")
    for table in ("DBS", "TBLS", "SDS", "COLUMNS_V2", "BUCKETING_COLS", "SEQUENCE_TABLE"):
        assert f"\n{table} " in tables, tables
    assert derby.connection("alph-aaaa-1111-2222", jars) == alpha  # once: marked done
    assert (derby.home / "project_alph-aaaa-1111-2222.schema").is_file()


def test_a_closed_metastore_does_not_start_again(tmp_path: Path) -> None:
    """The server's shutdown may come before its start-up thread started the JVM."""
    server = metastore.DerbyMetastore(tmp_path / "metastore", "a-secret-key-for-this-test-only")
    server.close()
    server.start()
    assert not server.running
