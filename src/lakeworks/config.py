"""Lakeworks settings: declared once, read from ``LAKEWORKS_*`` environment variables.

A ``Settings`` object is built at the edge (the CLI or a test) and passed to
``create_app(settings)``; nothing else in the package reads the environment.
"""

from __future__ import annotations

import secrets
from pathlib import Path
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
            "Empty means `http://<host>:<port>`. Its host is the CML domain (`CDSW_DOMAIN`)."
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
    session_max_age_seconds: int = Field(
        default=8 * 3600, gt=0, description="How long a browser login lasts."
    )

    executor: str = Field(
        default="local",
        description="Where workloads run: `local` (processes on this machine).",
    )
    runtimes_dir: Path | None = Field(
        default=None,
        description=(
            "Where Python runtimes (shared, read-only virtual environments) are built. "
            "Empty means `runtimes` in the data directory."
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

    @field_validator("public_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

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
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def domain(self) -> str:
        """The CML domain: host plus a non-default port, no scheme (``CDSW_DOMAIN``)."""
        return urlsplit(self.base_url).netloc

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
