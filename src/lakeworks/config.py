"""Lakeworks settings: declared once, read from ``LAKEWORKS_*`` environment variables.

A ``Settings`` object is built at the edge (the CLI or a test) and passed to
``create_app(settings)``; nothing else in the package reads the environment.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lakeworks.errors import InsecureSettings

# Values people paste from tutorials; refusing them is cheaper than an incident.
_KNOWN_BAD_SECRETS = {"changeme", "change-me", "secret", "password", "lakeworks", "dev", "test"}
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Every Lakeworks setting. The README's configuration table is checked against this class."""

    model_config = SettingsConfigDict(env_prefix="LAKEWORKS_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./lakeworks-data"),
        validate_default=True,
        description="Directory holding the SQLite database, project files and logs.",
    )
    database_url: str = Field(
        default="",
        description=(
            "SQLAlchemy URL of the metadata store. Empty means a SQLite file "
            "`lakeworks.db` in the data directory; use `postgresql+psycopg://…` for PostgreSQL."
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address the server binds.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the server binds.")
    public_url: str = Field(
        default="",
        description=(
            "Base URL people and workloads use to reach Lakeworks (`https://ml.example.org`). "
            "Empty means `http://<host>:<port>` (`localhost` for a loopback or wildcard bind, "
            "so apps at `http://<subdomain>.localhost:<port>/` work). Its host is the CML "
            "domain (`CDSW_DOMAIN`)."
        ),
    )
    secret_key: str = Field(
        default="",
        description=(
            "Key that signs session cookies and CSRF tokens; at least 32 characters. "
            "Required unless dev mode is on."
        ),
    )
    dev_mode: bool = Field(
        default=False,
        description=(
            "Development mode: a missing secret key is generated once and kept in the "
            "data directory. Never on a shared server."
        ),
    )
    max_upload_bytes: int = Field(
        default=512 * 1024 * 1024,
        gt=0,
        description="Largest request body accepted (file and archive uploads), in bytes.",
    )
    max_archive_bytes: int = Field(
        default=2 * 1024 * 1024 * 1024,
        gt=0,
        description="Largest total size an uploaded archive may expand to, in bytes.",
    )
    max_archive_members: int = Field(
        default=50_000, gt=0, description="Most files and folders an uploaded archive may hold."
    )
    max_editable_bytes: int = Field(
        default=2 * 1024 * 1024,
        gt=0,
        description="Largest text file the web editor opens, in bytes.",
    )
    git_timeout_seconds: int = Field(
        default=120, gt=0, description="Time limit for cloning a project's git repository."
    )
    git_connect_timeout_seconds: int = Field(
        default=10,
        gt=0,
        le=60,
        description="How long a git clone waits to connect to a remote host before it fails "
        'with "cannot reach <host>" (offline installs fail fast).',
    )
    git_mirrors: dict[str, str] = Field(
        default={},
        description="Git URL prefixes mapped to local mirrors, as JSON: "
        '`{"https://github.com/": "/srv/git-mirror/"}` clones `https://github.com/org/amp` '
        "from `/srv/git-mirror/org/amp` (a path or any git URL). Used for projects and AMPs "
        "created from git; the longest matching prefix wins.",
    )
    amp_catalogs: list[str] = Field(
        default=[],
        description="More AMP catalogs for the AMPs page, as a JSON list of catalog YAML files "
        "(CML's format: `{name, entries: [{title, label, short_description, "
        "long_description, image_path, tags, git_url, is_prototype}]}`; an entry may give a "
        "local `path` instead of `git_url`) or directories holding such files. The AMPs "
        "shipped with Lakeworks are always listed.",
    )
    pip_index_url: str = Field(
        default="",
        description="Package index mirror every workload's pip uses (`PIP_INDEX_URL`), e.g. "
        "`http://pypi.internal/simple`; a project's own `PIP_INDEX_URL` wins.",
    )
    pip_extra_index_url: str = Field(
        default="", description="Second package index for workloads (`PIP_EXTRA_INDEX_URL`)."
    )
    pip_trusted_host: str = Field(
        default="", description="Hosts pip may reach over plain HTTP (`PIP_TRUSTED_HOST`)."
    )
    pip_find_links: Path | None = Field(
        default=None,
        description="A wheelhouse: a directory of wheels that pip in every workload (AMP "
        "bootstrap tasks, model builds) looks in first (`PIP_FIND_LINKS`); it is mounted "
        "read-only into workloads. With `LAKEWORKS_PIP_INDEX_URL` empty, pip uses the "
        "wheelhouse alone (`PIP_NO_INDEX`), so offline installs never wait on PyPI.",
    )
    session_max_age_seconds: int = Field(
        default=8 * 3600, gt=0, description="How long a browser login lasts."
    )
    login_max_failures_per_account: int = Field(
        default=5,
        ge=1,
        description="Failed sign-ins for one username within the failure window before "
        "further attempts get 429 with `Retry-After`.",
    )
    login_max_failures_per_address: int = Field(
        default=20,
        ge=1,
        description="Failed sign-ins from one client address within the failure window "
        "before further attempts get 429 with `Retry-After`.",
    )
    login_failure_window_seconds: int = Field(
        default=900, gt=0, description="The window in which failed sign-ins are counted."
    )
    password_hash_concurrency: int = Field(
        default=2,
        ge=1,
        description="Password hashes (argon2, 64 MiB each) computed at once; more sign-ins "
        "wait briefly, then get 429.",
    )

    executor: str = Field(
        default="local",
        description="Where workloads run: `local` (processes on this machine).",
    )
    sandbox: str = Field(
        default="bwrap",
        pattern="^(bwrap|none)$",
        description="How workloads are isolated: `bwrap` (bubblewrap; each project's workloads "
        "as an unprivileged uid of their own, seeing only their project and runtime; without "
        "a working bubblewrap no workload starts) or `none` (plain processes as the server's "
        "user, able to read the server's files: single-user machines only; shown to admins).",
    )
    sandbox_network: str = Field(
        default="isolated",
        pattern="^(shared|isolated)$",
        description="Workloads' network under `bwrap`: `isolated` (a network namespace each, "
        "joined by `pasta` from Debian's `passt`, without which no workload starts: only the "
        "proxy and gateway reach a workload's ports; workloads reach the outside world, the "
        "server's port and `LAKEWORKS_SANDBOX_HOST_PORTS`, not the rest of this machine's "
        "loopback) or `shared` (this machine's network: any workload can reach other "
        "workloads' ports on 127.0.0.1).",
    )
    sandbox_network_pool: int = Field(
        default=2,
        ge=0,
        le=16,
        description="With an isolated network and a server running as root, how many network "
        "namespaces to keep connected ahead for workloads without ports of their own (jobs): "
        "a job's start then need not wait for `pasta` (each waiting namespace is a ~30 MiB "
        "`pasta` process; each serves one workload only). `0` connects every namespace at "
        "its workload's start.",
    )
    sandbox_host_ports: str = Field(
        default="",
        pattern=r"^[0-9, ]*$",
        description="With an isolated network, more ports on this machine's 127.0.0.1 that "
        "workloads may reach besides the server's (comma-separated, e.g. `5432` for a local "
        "PostgreSQL the site allows).",
    )
    workload_key_scope: str = Field(
        default="user",
        pattern="^(user|project)$",
        description="What a workload's API key (`CDSW_APIV2_KEY`) may reach: `user` (as in CML: "
        "everything its user may, creating projects included, but never site-admin powers or "
        "API-key management; revoked when the workload ends) or `project` (its own project "
        "only).",
    )
    runtimes_dir: Path | None = Field(
        default=None,
        description=(
            "Where Python runtimes (shared, read-only virtual environments) are built. "
            "Empty means `runtimes` in the data directory."
        ),
    )
    default_python: str = Field(
        default="",
        pattern=r"^(3\.\d{1,2})?$",
        description=(
            "Python version of the default runtime (`3.11`), used when a workload names no "
            "runtime. Empty means the Python Lakeworks runs on, when it can host runtimes."
        ),
    )
    build_default_runtime: bool = Field(
        default=True,
        description=(
            "Start building the default runtime in the background when the server starts, "
            "so the first workload of a new install finds it ready."
        ),
    )
    scheduler_enabled: bool = Field(
        default=True,
        description="Run the scheduler and reconciler loops in this server process.",
    )
    scheduler_tick_seconds: float = Field(
        default=1.0, gt=0, description="How often the scheduler looks for work, in seconds."
    )
    quota_cpu: float = Field(
        default=8.0, gt=0, description="Default per-user limit on vCPUs held by running workloads."
    )
    quota_memory_mb: int = Field(
        default=16384,
        gt=0,
        description="Default per-user limit on memory (MiB) held by running workloads.",
    )
    smtp_host: str = Field(default="", description="SMTP server for job emails; empty: no email.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port.")
    smtp_from: str = Field(
        default="lakeworks@localhost", description="Sender address of job emails."
    )
    smtp_username: str = Field(default="", description="SMTP login, if the server needs one.")
    smtp_password: str = Field(default="", description="SMTP password.")
    smtp_starttls: bool = Field(default=False, description="Use STARTTLS with the SMTP server.")

    # Models: builds, replicas and the gateway ---------------------------------------------
    model_build_max_bytes: int = Field(
        default=1024 * 1024 * 1024,
        gt=0,
        description="Largest project snapshot a model build takes (files after `.gitignore`).",
    )
    model_build_honour_gitignore: bool = Field(
        default=True, description="Leave files ignored by `.gitignore` out of model builds."
    )
    model_request_max_bytes: int = Field(
        default=5 * 1024 * 1024,
        gt=0,
        description="Largest model request body (`POST /model`); larger gets 413.",
    )
    model_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Default time a model call may take before `504 model.timeout`.",
    )
    model_queue_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a request waits for a free replica before `429 model.busy`.",
    )
    model_replica_concurrency: int = Field(
        default=1,
        ge=1,
        description="Requests one model replica serves at once (CML: 1). One runs on the "
        "replica's event loop thread; more run in a thread pool.",
    )
    model_replica_queue: int = Field(
        default=1,
        ge=0,
        le=64,
        description="Requests the gateway hands a busy replica to wait there, so it never idles "
        "between two (0: none, each waits in the gateway). One waiting at a replica fails with "
        "the call before it if that call crashes the replica.",
    )
    model_route_cache_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How long the gateway caches a model's keys and replicas between reads.",
    )

    # Experiments (embedded MLflow tracking and registry) --------------------------------
    mlflow_database_url: str = Field(
        default="",
        description=(
            "SQLAlchemy URL of MLflow's store. Empty means `mlflow.db` beside the SQLite "
            "database, or the schema `LAKEWORKS_MLFLOW_SCHEMA` on the PostgreSQL server."
        ),
    )
    mlflow_schema: str = Field(
        default="mlflow",
        description="PostgreSQL schema holding MLflow's tables (kept apart from Lakeworks').",
    )
    mlflow_run_order: str = Field(
        default="ascending",
        pattern="^(ascending|descending)$",
        description=(
            "Order of `search_runs` results when the caller gives no `order_by`: `ascending` "
            "by start time (CML's behaviour, so `iloc[-1]` is the latest; a documented "
            "deviation from MLflow) or `descending` (stock MLflow)."
        ),
    )
    tracking_auth_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "How long MLflow calls reuse a key's identity and an allowed project check. "
            "Revocations and membership changes made through this server apply at once; "
            "from another server process, within this time. 0 checks every call."
        ),
    )
    # Sessions and Spark (issue 6) ---------------------------------------------
    session_idle_timeout_minutes: int = Field(
        default=60,
        ge=0,
        description="Stop a session after this many minutes without activity (CML's "
        "`IDLE_MAXIMUM_MINUTES`); a session may set its own; 0: never.",
    )
    spark_master: str = Field(
        default="",
        description="Spark master for workloads (`spark://host:7077`, `k8s://https://...`); "
        "empty: local mode inside the workload.",
    )
    java_home: str = Field(
        default="",
        description="The JDK that workloads' Spark and the shared Spark metastore run on "
        "(Spark 3.5 needs Java 8, 11 or 17): a folder with `bin/java`. Empty, or a folder "
        "without `bin/java`: the first Java 17, then 11, under `/usr/lib/jvm`, else the `java` "
        "on PATH. The server's own `JAVA_HOME` is not read: set this instead.",
    )
    iceberg_spark_jar: str = Field(
        default="",
        description="The Iceberg Spark runtime jar (`iceberg-spark-runtime-3.5_2.12-*.jar`; it "
        "is not on the package index). Empty: the first found of "
        "`/usr/share/java/iceberg-spark-runtime*.jar` and "
        "`/opt/spark/optional-lib/iceberg-spark-runtime*.jar`. When there is one, workloads' "
        "Spark sessions get the project's Iceberg catalog (docs/architecture.md, data).",
    )
    data_connection_aliasing: bool = Field(
        default=False,
        description="`cml.data_v1.get_connection` with a name that no connection has: false "
        "gives an error listing the names there are; true resolves it to the built-in `spark` "
        "connection with a warning (CML projects hard-code other workspaces' names).",
    )
    spark_metastore: Literal["shared", "embedded"] = Field(
        default="shared",
        description="Spark's Hive metastore: `shared`, a Derby network server the Lakeworks "
        "server starts (with its scheduler) and stops, a database per project, so a "
        "project's Spark workloads use its tables at once; `embedded`, Derby inside each "
        "workload's JVM (one Spark workload per project at a time).",
    )
    spark_metastore_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Loopback port of the shared metastore; 0: a free port at each start.",
    )

    # Applications and the authenticating proxy (issue 6) -------------------------------
    app_start_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long an application may take to open `CDSW_APP_PORT` (or "
        "`CDSW_READONLY_PORT`/`CDSW_PUBLIC_PORT`) before it is stopped and marked failed.",
    )
    app_max_restarts: int = Field(
        default=3,
        ge=0,
        description="Automatic restarts of a crashed application within "
        "`LAKEWORKS_APP_RESTART_WINDOW_SECONDS` before it stays failed (CML: none; 0 = off).",
    )
    app_restart_window_seconds: float = Field(
        default=600.0,
        gt=0,
        description="The window in which `LAKEWORKS_APP_MAX_RESTARTS` crashes are counted.",
    )
    allow_unauthenticated_apps: bool = Field(
        default=True,
        description="Honour an application's `bypass_authentication` (public app); false: "
        "every app needs a signed-in project member.",
    )
    proxy_max_ws_message_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Largest websocket message the proxy relays; larger ones close with 1009.",
    )
    proxy_route_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How long the proxy caches routes and access decisions (0: no cache). "
        "Revocations and membership changes made through this server apply at once; from "
        "another server process, within this time.",
    )
    app_path_routing: bool = Field(
        default=False,
        description="Also serve applications at `/apps/<subdomain>/` on the main host (for "
        "installs without wildcard DNS). Their pages are then sandboxed by CSP to an opaque "
        "origin, so app scripts cannot act as the viewer; apps whose pages call their own "
        "backend with the viewer's sign-in need host routing.",
    )
    session_cookie_domain: str = Field(
        default="",
        description="Domain of the session cookie, e.g. `lakeworks.example.com` so "
        "`*.lakeworks.example.com` apps receive it; empty: host-only (apps on subdomains then "
        "sign in through a one-time redirect).",
    )

    # The Data page's SQL explorer (issue 16) -----------------------------------------
    data_query_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A Data page query (or a visual's) running longer than this is "
        "cancelled and its author told so.",
    )
    data_query_page_rows: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="The most rows one page of a query's results holds (the results grid "
        "and API v2 page through the rest).",
    )
    data_download_max_rows: int = Field(
        default=1_000_000,
        ge=1,
        description="The most rows a CSV download of a query's results holds.",
    )
    data_write_max_rows: int = Field(
        default=1_000_000,
        ge=1,
        description="The most rows one Data page write (CREATE TABLE … AS / INSERT INTO … "
        "SELECT into an Iceberg table) takes; a larger result is refused, nothing written.",
    )
    data_query_memory_mb: int = Field(
        default=1024,
        ge=64,
        description="DuckDB's memory limit for one Data page query.",
    )
    data_query_threads: int = Field(
        default=2, ge=1, le=64, description="DuckDB threads for one Data page query."
    )
    data_max_running_queries: int = Field(
        default=4,
        ge=1,
        description="Data page queries one server process runs at once; more are refused "
        "with 429 (try again).",
    )
    data_max_sources: int = Field(
        default=500,
        ge=1,
        description="The most Parquet/CSV files of a project the Data page offers as tables.",
    )

    @field_validator("public_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("sandbox_host_ports")
    @classmethod
    def _ports(cls, value: str) -> str:
        ports = [p.strip() for p in value.split(",") if p.strip()]
        if any(not 1 <= int(p) <= 65535 for p in ports):
            raise ValueError("ports must be between 1 and 65535")
        return ",".join(ports)

    @field_validator("data_dir", "runtimes_dir", "pip_find_links")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Workloads bind these paths into their sandbox, where a relative path means nothing
        # (`lakeworks demo` uses ".lakeworks-demo").
        return None if value is None else value.expanduser().absolute()

    # Derived values -----------------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'lakeworks.db').resolve()}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url
        # A loopback or wildcard bind is reached as `localhost`: browsers resolve
        # `<app>.localhost` to the loopback address, so host-routed apps work on a laptop.
        local = self.host in ("0.0.0.0", "::", "127.0.0.1", "::1", "localhost")
        host = "localhost" if local else self.host
        return f"http://{host}:{self.port}"

    @property
    def domain(self) -> str:
        """The CML domain: host plus a non-default port, no scheme (``CDSW_DOMAIN``)."""
        return urlsplit(self.base_url).netloc

    @property
    def workload_host_ports(self) -> tuple[int, ...]:
        """Ports of this machine's loopback that isolated workloads reach: the server's own,
        the public URL's when it names this machine's loopback, and the site's
        ``sandbox_host_ports``."""
        ports = {self.port, *(int(p) for p in self.sandbox_host_ports.split(",") if p)}
        public = urlsplit(self.base_url)
        if public.hostname in ("localhost", "::1") or (public.hostname or "").startswith("127."):
            ports.add(public.port or (443 if public.scheme == "https" else 80))
        return tuple(sorted(ports))

    @property
    def projects_dir(self) -> Path:
        return self.data_dir / "projects"

    @property
    def resolved_runtimes_dir(self) -> Path:
        return self.runtimes_dir or self.data_dir / "runtimes"

    @property
    def workloads_dir(self) -> Path:
        """Logs and executor state of workloads (outside every project)."""
        return self.data_dir / "workloads"

    @property
    def server_socket_dir(self) -> Path:
        """The directory of the server's Unix socket for workloads (the model gateway's,
        ``gateway.sock``); sandboxes see it read-only at ``/run/lakeworks``."""
        return self.data_dir / "run"

    @property
    def gateway_socket(self) -> Path:
        """The model gateway's Unix socket for workloads on this machine."""
        return self.server_socket_dir / "gateway.sock"

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")


def check_secret_key(settings: Settings) -> Settings:
    """Return settings with a usable secret key, or raise ``InsecureSettings``.

    In dev mode a missing key is generated once and kept (mode 0600) in the data directory,
    so browser logins survive restarts. Outside dev mode the operator must provide one.
    """
    key = settings.secret_key
    if not key and settings.dev_mode:
        key_file = settings.data_dir / "secret_key"
        key = key_file.read_text().strip() if key_file.exists() else ""
        if len(key) < MIN_SECRET_LENGTH:
            # Missing, or left empty by a start interrupted between creating and writing it:
            # an empty key would sign session cookies that anyone can forge.
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            key = secrets.token_urlsafe(48)
            key_file.touch(mode=0o600)
            key_file.write_text(key)
        return settings.model_copy(update={"secret_key": key})
    if not key:
        raise InsecureSettings(
            "LAKEWORKS_SECRET_KEY is not set. Generate one with "
            '`python -c "import secrets; print(secrets.token_urlsafe(48))"` '
            "or start with LAKEWORKS_DEV_MODE=true on a developer machine."
        )
    if key.lower() in _KNOWN_BAD_SECRETS or len(key) < MIN_SECRET_LENGTH:
        raise InsecureSettings(
            f"LAKEWORKS_SECRET_KEY is too weak: use at least {MIN_SECRET_LENGTH} random characters."
        )
    if len(set(key)) < 8:
        raise InsecureSettings("LAKEWORKS_SECRET_KEY is too weak: it repeats too few characters.")
    return settings


def settings_table() -> str:
    """The README's configuration table, generated from the ``Settings`` fields."""
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, Path):
            shown = f"`{default.as_posix()}`"
        elif default in ("", None):
            shown = "(empty)"
        else:
            shown = f"`{str(default).lower() if isinstance(default, bool) else default}`"
        meaning = (field.description or "").replace("|", "\\|")
        lines.append(f"| `LAKEWORKS_{name.upper()}` | {shown} | {meaning} |")
    return "\n".join(lines)
