"""The Hive metastore that a project's Spark workloads share: a Derby network server.

Spark's default metastore is embedded Derby, which one JVM at a time may open: a colleague's
open notebook made every other Spark workload of the project fail with "XSDB6: Another
instance of Derby may have already booted the database". Instead the Lakeworks server starts
one Derby network server (Debian's ``derby-tools`` / ``libderby-java``; workloads connect with
``libderbyclient-java``'s driver) on the machine's loopback, and gives each project a
database of its own, so its sessions, jobs and applications share its tables at once.

Isolation, as far as Derby allows it:

- the server requires authentication; its administrator (``lakeworks``, a password derived
  from the server's secret key) is a system-wide user known only to the Lakeworks server;
- each project's database is created by the administrator and has one user of its own,
  defined in that database only (a database-level ``derby.user.*``), whose password is
  derived from the secret key and the project id: it authenticates to its own database and
  to no other, and cannot create databases (only system-wide users can);
- every database defaults to ``noAccess`` with full access for its project user and the
  administrator, and SQL authorisation is on, so the project user (not the owner) cannot
  run Derby's system procedures (file import/export, properties, backups);
- the server runs under Derby's default security manager policy (files under its own home).

The project's password reaches its workloads in their environment
(``LAKEWORKS_SPARK_METASTORE_PASSWORD``, which the project's ``spark-defaults.conf`` names as
``${env.…}`` for Hadoop to expand), not in the project's files: a viewer of the project, who
runs nothing there, cannot read it. What does not hold: every isolated workload may connect to
the port (a workload of another project gets no further than the login). A
SQL routine created by a project user runs Java inside the shared server: its security
manager bounds what such code may do, not how much CPU it takes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lakeworks.data.spark import java_home

JARS = Path("/usr/share/java")
SERVER_JARS = ("derby.jar", "derbynet.jar", "derbytools.jar")
CLIENT_JAR = "derbyclient.jar"
ADMIN = "lakeworks"
START_TIMEOUT = 60.0
PROVISION_TIMEOUT = 180.0
LOOPBACK = "127.0.0.1"
_PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
SCHEMA_MARK = "hive-metastore tables created\n"

log = logging.getLogger(__name__)


class MetastoreUnavailable(RuntimeError):
    """The shared metastore cannot run here (no Java, no Derby) or did not start."""


@dataclass(frozen=True)
class Connection:
    """What a project's Spark needs to reach its metastore database."""

    url: str
    driver: str
    user: str
    password: str
    classpath: str  # the JDBC driver's jar, for the Spark driver's class path


def available(java: str = "") -> str:
    """ "" when Java (``java``: the configured JDK, see ``spark.java_home``) and Derby's jars
    are installed, else what is missing."""
    missing = [name for name in (*SERVER_JARS, CLIENT_JAR) if not (JARS / name).exists()]
    if missing:
        return (
            f"Derby is not installed ({', '.join(missing)} missing; apt-get install "
            "derby-tools libderbyclient-java)"
        )
    if not java_home(java):
        return "no Java runtime is installed (apt-get install openjdk-17-jre-headless)"
    return ""


def spark_jars(runtime_dir: Path) -> Path | None:
    """The ``pyspark/jars`` folder of a runtime (a virtual environment), if it has one."""
    return next(iter(sorted(runtime_dir.glob("lib/python*/base-packages/pyspark/jars"))), None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class DerbyMetastore:
    """One Derby network server for the installation; ``start``/``stop`` by the server's
    lifespan, ``connection(project_id)`` by workload launches (creates the project's
    database on first use). Thread-safe."""

    def __init__(self, home: Path, secret_key: str, port: int = 0, java: str = "") -> None:
        self.home = home
        self._java_home = java  # Settings.java_home
        self._secret = secret_key.encode()
        self._wanted_port = port
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._provisioned: set[str] = set()
        self._closed = False

    # Lifecycle ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it answers; a no-op when it runs or after
        ``close``."""
        with self._lock:
            if self.running or self._closed:
                return
            why = available(self._java_home)
            if why:
                raise MetastoreUnavailable(why)
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._end_leftover()
            properties = self.home / "derby.properties"
            properties.write_text(
                "derby.connection.requireAuthentication=true\n"
                "derby.authentication.provider=BUILTIN\n"
                f"derby.user.{ADMIN}={self._password(ADMIN)}\n"
                "derby.database.sqlAuthorization=true\n"
                "derby.database.defaultConnectionMode=noAccess\n"
                f"derby.database.fullAccessUsers={ADMIN}\n"
                "derby.stream.error.file=derby.log\n"
            )
            properties.chmod(0o600)
            self.port = self._wanted_port or _free_port()
            argv = [
                self._java(),
                "-Xmx256m",
                f"-Dderby.system.home={self.home}",
                "-cp",
                ":".join(str(JARS / name) for name in SERVER_JARS),
                "org.apache.derby.drda.NetworkServerControl",
                "start",
                "-h",
                LOOPBACK,
                "-p",
                str(self.port),
            ]
            with (self.home / "server.log").open("ab") as server_log:
                self._process = subprocess.Popen(
                    argv,
                    cwd=self.home,
                    stdin=subprocess.DEVNULL,
                    stdout=server_log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            (self.home / "server.pid").write_text(str(self._process.pid))
            deadline = time.monotonic() + START_TIMEOUT
            while not self._answers():
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self._kill()
                    tail = (self.home / "server.log").read_bytes()[-1500:].decode(errors="replace")
                    raise MetastoreUnavailable(f"the Derby network server did not start: {tail}")
                time.sleep(0.2)

    def _end_leftover(self) -> None:
        """End a server a previous Lakeworks process left running on this home (it was
        killed without its shutdown): two servers must not open the same databases."""
        try:
            pid = int((self.home / "server.pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if f"-Dderby.system.home={self.home}".encode() not in cmdline:
            return  # the pid was reused by something else
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def _answers(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self, grace: float = 15.0) -> None:
        """Stop the server (databases are closed cleanly by the JVM's shutdown)."""
        with self._lock:
            if self._process is None:
                return
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(grace)
                except subprocess.TimeoutExpired:
                    self._kill()
            self._process = None
            self._provisioned.clear()
            (self.home / "server.pid").unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the server for good: a ``start`` still on its way (the server's start-up
        thread, when the server shuts down at once) does nothing, so no JVM outlives it."""
        with self._lock:
            self._closed = True
        self.stop()

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)

    def _java(self) -> str:
        return str(Path(java_home(self._java_home), "bin", "java"))

    # Projects -----------------------------------------------------------------------

    def _password(self, who: str) -> str:
        return hmac.new(self._secret, f"metastore:{who}".encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def user_of(project_id: str) -> str:
        return "P_" + project_id.replace("-", "_").upper()

    @staticmethod
    def database_of(project_id: str) -> str:
        return f"project_{project_id}"

    def connection(self, project_id: str, jars: Path | None = None) -> Connection:
        """The project's metastore connection, its database created on first use.

        With ``jars`` (a runtime's ``pyspark/jars``), a new database also gets the metastore's
        tables before any workload connects (``_create_schema``)."""
        if not _PROJECT_ID.match(project_id):
            raise ValueError(f"not a project id: {project_id!r}")
        if not self.running:
            raise MetastoreUnavailable("the shared Spark metastore is not running")
        connection = Connection(
            url=f"jdbc:derby://{LOOPBACK}:{self.port}/{self.database_of(project_id)}",
            driver="org.apache.derby.jdbc.ClientDriver",
            user=self.user_of(project_id),
            password=self._password(project_id),
            classpath=str(JARS / CLIENT_JAR),
        )
        if project_id in self._provisioned and (jars is None or self._has_schema(project_id)):
            return connection
        with self._lock:
            if project_id not in self._provisioned:
                self._provision(project_id)
                self._provisioned.add(project_id)
            if jars is not None and not self._has_schema(project_id):
                try:
                    self._create_schema(connection, jars)
                    self._schema_marker(project_id).write_text(SCHEMA_MARK)
                except MetastoreUnavailable as exc:
                    # Spark still creates the tables on first use (DataNucleus'
                    # autoCreateAll); only two first uses at once may then collide.
                    log.warning("metastore tables of project %s: %s", project_id, exc)
        return connection

    def _provision(self, project_id: str) -> None:
        """Create the database (if new) as the administrator and (re)set its one user and
        access rules: idempotent, so a restart with an existing database is fine."""
        user = self.user_of(project_id)
        url = (
            f"jdbc:derby://{LOOPBACK}:{self.port}/{self.database_of(project_id)};create=true;"
            f"user={ADMIN};password={self._password(ADMIN)}"
        )
        props = {
            f"derby.user.{user}": self._password(project_id),
            "derby.database.defaultConnectionMode": "noAccess",
            "derby.database.fullAccessUsers": f"{ADMIN},{user}",
        }
        self._ij(
            f"connect '{url}'",
            *(
                f"CALL SYSCS_UTIL.SYSCS_SET_DATABASE_PROPERTY('{key}', '{value}')"
                for key, value in props.items()
            ),
            what="create the project's metastore database",
        )

    def _schema_marker(self, project_id: str) -> Path:
        return self.home / f"{self.database_of(project_id)}.schema"

    def _has_schema(self, project_id: str) -> bool:
        try:
            return self._schema_marker(project_id).read_text() == SCHEMA_MARK
        except OSError:
            return False

    def _create_schema(self, connection: Connection, jars: Path) -> None:
        """Create the Hive metastore's tables in a new project database, once, before any
        workload uses it: left to Spark, two first uses at once race to create them (Derby
        deadlocks, duplicate rows, stack traces in both logs).

        DataNucleus' own ``SchemaTool`` does it from the metastore's mapping (``package.jdo``
        in the runtime's ``hive-metastore`` jar) with the settings Hive's ObjectStore uses,
        as the project's user (the tables land in its schema, where Spark looks). Only the
        platform's runtime jars and Derby's client are on the class path, nothing of the
        project's."""
        metastore_jar = next(iter(sorted(jars.glob("hive-metastore-*.jar"))), None)
        if metastore_jar is None:
            raise MetastoreUnavailable(f"no hive-metastore jar in {jars}")
        with tempfile.TemporaryDirectory(prefix="metastore-schema-") as scratch:
            work = Path(scratch)
            try:
                with zipfile.ZipFile(metastore_jar) as jar:
                    (work / "package.jdo").write_bytes(jar.read("package.jdo"))
            except (OSError, KeyError, zipfile.BadZipFile) as exc:
                raise MetastoreUnavailable(f"cannot read {metastore_jar}: {exc}") from exc
            settings = {
                "javax.jdo.option.ConnectionURL": connection.url,
                "javax.jdo.option.ConnectionDriverName": connection.driver,
                "javax.jdo.option.ConnectionUserName": connection.user,
                "javax.jdo.option.ConnectionPassword": connection.password,
                "datanucleus.schema.autoCreateAll": "true",
                "datanucleus.identifierFactory": "datanucleus1",
                "datanucleus.rdbms.useLegacyNativeValueStrategy": "true",
                "datanucleus.storeManagerType": "rdbms",
            }
            props = work / "schema.properties"
            props.touch(mode=0o600)
            props.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
            argv = [
                self._java(),
                "-cp",
                f"{jars}/*:{connection.classpath}",
                "org.datanucleus.store.schema.SchemaTool",
                "-create",
                "-api",
                "JDO",
                "-props",
                str(props),
                str(work / "package.jdo"),
            ]
            self._run(argv, work, "create the metastore's tables")
        # DataNucleus makes its id table on first use too: here, so that is not raced either.
        self._ij(
            f"connect '{connection.url};user={connection.user};password={connection.password}'",
            "CREATE TABLE SEQUENCE_TABLE (SEQUENCE_NAME VARCHAR(255) NOT NULL PRIMARY KEY, "
            "NEXT_VAL BIGINT NOT NULL)",
            what="create the metastore's id table",
            tolerate=("X0Y32",),  # it exists already
        )

    def _ij(self, *statements: str, what: str, tolerate: tuple[str, ...] = ()) -> None:
        """Run SQL statements with Derby's ``ij`` (over its network client); raise on an
        error other than the ``tolerate``d SQL states."""
        script = "".join(statement + ";\n" for statement in (*statements, "exit"))
        classpath = ":".join(str(JARS / name) for name in (CLIENT_JAR, "derbytools.jar"))
        output = self._run(
            [self._java(), "-cp", classpath, "org.apache.derby.tools.ij"],
            self.home,
            what,
            stdin=script.encode(),
        )
        errors = [
            line
            for line in output.splitlines()
            if "ERROR" in line and not any(state in line for state in tolerate)
        ]
        if errors:
            raise MetastoreUnavailable(f"could not {what}: {self._redact(chr(10).join(errors))}")

    def _run(self, argv: list[str], cwd: Path, what: str, stdin: bytes = b"") -> str:
        try:
            done = subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                timeout=PROVISION_TIMEOUT,
                cwd=cwd,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MetastoreUnavailable(f"could not {what}: {exc}") from exc
        output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        if done.returncode != 0:
            raise MetastoreUnavailable(f"could not {what}: {self._redact(output)[-2000:]}")
        return output

    def _redact(self, text: str) -> str:
        return text.replace(self._password(ADMIN), "***")
