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

What does not hold: the password sits in the project's ``spark-defaults.conf``, readable by
everyone who can read the project (they share its tables anyway), and every isolated workload
may connect to the port (a workload of another project gets no further than the login). A
SQL routine created by a project user runs Java inside the shared server: its security
manager bounds what such code may do, not how much CPU it takes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from lakeworks.data.spark import java_home

JARS = Path("/usr/share/java")
SERVER_JARS = ("derby.jar", "derbynet.jar", "derbytools.jar")
CLIENT_JAR = "derbyclient.jar"
ADMIN = "lakeworks"
START_TIMEOUT = 60.0
PROVISION_TIMEOUT = 120.0
LOOPBACK = "127.0.0.1"
_PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


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


def available() -> str:
    """ "" when Java and Derby's jars are installed, else what is missing."""
    missing = [name for name in (*SERVER_JARS, CLIENT_JAR) if not (JARS / name).exists()]
    if missing:
        return (
            f"Derby is not installed ({', '.join(missing)} missing; apt-get install "
            "derby-tools libderbyclient-java)"
        )
    if not java_home():
        return "no Java runtime is installed (apt-get install openjdk-17-jre-headless)"
    return ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class DerbyMetastore:
    """One Derby network server for the installation; ``start``/``stop`` by the server's
    lifespan, ``connection(project_id)`` by workload launches (creates the project's
    database on first use). Thread-safe."""

    def __init__(self, home: Path, secret_key: str, port: int = 0) -> None:
        self.home = home
        self._secret = secret_key.encode()
        self._wanted_port = port
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._provisioned: set[str] = set()

    # Lifecycle ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it answers; a no-op when it runs."""
        with self._lock:
            if self.running:
                return
            why = available()
            if why:
                raise MetastoreUnavailable(why)
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
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
            java = str(Path(java_home(), "bin", "java"))
            argv = [
                java,
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
            log = (self.home / "server.log").open("ab")
            try:
                self._process = subprocess.Popen(
                    argv,
                    cwd=self.home,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            finally:
                log.close()
            deadline = time.monotonic() + START_TIMEOUT
            while not self._answers():
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self._kill()
                    tail = (self.home / "server.log").read_bytes()[-1500:].decode(errors="replace")
                    raise MetastoreUnavailable(f"the Derby network server did not start: {tail}")
                time.sleep(0.2)

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

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)

    # Projects -----------------------------------------------------------------------

    def _password(self, who: str) -> str:
        return hmac.new(self._secret, f"metastore:{who}".encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def user_of(project_id: str) -> str:
        return "P_" + project_id.replace("-", "_").upper()

    @staticmethod
    def database_of(project_id: str) -> str:
        return f"project_{project_id}"

    def connection(self, project_id: str) -> Connection:
        """The project's metastore connection, its database created on first use."""
        if not _PROJECT_ID.match(project_id):
            raise ValueError(f"not a project id: {project_id!r}")
        if not self.running:
            raise MetastoreUnavailable("the shared Spark metastore is not running")
        if project_id not in self._provisioned:
            with self._lock:
                if project_id not in self._provisioned:
                    self._provision(project_id)
                    self._provisioned.add(project_id)
        return Connection(
            url=f"jdbc:derby://{LOOPBACK}:{self.port}/{self.database_of(project_id)}",
            driver="org.apache.derby.jdbc.ClientDriver",
            user=self.user_of(project_id),
            password=self._password(project_id),
            classpath=str(JARS / CLIENT_JAR),
        )

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
        script = f"connect '{url}';\n" + "".join(
            f"CALL SYSCS_UTIL.SYSCS_SET_DATABASE_PROPERTY('{key}', '{value}');\n"
            for key, value in props.items()
        )
        script += "exit;\n"
        java = str(Path(java_home(), "bin", "java"))
        classpath = ":".join(str(JARS / name) for name in (CLIENT_JAR, "derbytools.jar"))
        try:
            done = subprocess.run(
                [java, "-cp", classpath, "org.apache.derby.tools.ij"],
                input=script.encode(),
                capture_output=True,
                timeout=PROVISION_TIMEOUT,
                cwd=self.home,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MetastoreUnavailable(f"could not create the project's metastore: {exc}") from exc
        output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        if done.returncode != 0 or "ERROR" in output:
            secret_free = output.replace(self._password(ADMIN), "***")
            raise MetastoreUnavailable(f"could not create the project's metastore: {secret_free}")
