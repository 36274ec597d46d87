"""Engine creation and schema migrations (Alembic, shipped in this package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from lakeworks.errors import DatabaseNotMigrated

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # A pool of connections, each checked out by one thread at a time, so WAL readers
            # stay independent across threads. Not a new connection per transaction: opening
            # one (and its pragmas) and closing it (the last close checkpoints the WAL into
            # the database file) cost more than the transaction, and the model gateway's
            # metrics writer and the scheduler run several a second.
            poolclass=QueuePool,
            pool_size=8,
            max_overflow=32,
            pool_timeout=30,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (what ``lakeworks db upgrade`` runs)."""
    command.upgrade(alembic_config(engine), revision)


def head_revision(engine: Engine) -> str:
    script = ScriptDirectory.from_config(alembic_config(engine))
    head = script.get_current_head()
    assert head is not None, "the package ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_migrated(engine: Engine) -> None:
    """Raise ``DatabaseNotMigrated`` unless the schema is at this version's head."""
    current = current_revision(engine)
    head = head_revision(engine)
    if current == head:
        return
    where = "empty" if current is None else f"at revision {current}"
    raise DatabaseNotMigrated(
        f"The database is {where}; this Lakeworks needs revision {head}. "
        "Run `lakeworks db upgrade` (with the same LAKEWORKS_DATABASE_URL) and start again."
    )
