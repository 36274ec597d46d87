"""MLflow's stores: where they live, their migrations, and one pair of stores per platform.

MLflow keeps its own tables (experiments, runs, registered models, ...) and its own Alembic
history. They live beside Lakeworks' tables, never among them, because both use a table named
``alembic_version``:

- SQLite (the default): a file ``mlflow.db`` beside ``lakeworks.db``;
- PostgreSQL: the same server, in a schema of its own (``LAKEWORKS_MLFLOW_SCHEMA``);
- or wherever ``LAKEWORKS_MLFLOW_DATABASE_URL`` says.

``lakeworks db upgrade`` calls ``upgrade``, which also migrates a store made by MLflow 2
(Lakeworks embedded 2.22 before) to MLflow 3's schema, with MLflow's own Alembic history;
the stores refuse an unmigrated database with
``DatabaseNotMigrated``, as Lakeworks' own store does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url

from lakeworks.config import Settings
from lakeworks.errors import DatabaseNotMigrated, InvalidInput

# Where run artifacts live as workloads see them (CML compat §9): the project is mounted at
# /home/cdsw, so an experiment's artifacts are ``/home/cdsw/.experiments/<experiment_id>``.
WORKLOAD_HOME = "/home/cdsw"
ARTIFACT_ROOT = f"{WORKLOAD_HOME}/.experiments"


def _register_psycopg_dialect() -> None:
    """``postgresql+lwpsycopg``: psycopg 3 without SQLAlchemy's bind casts, for MLflow.

    MLflow's queries compare integer columns with string parameters (``experiment_id =
    '1'``), which PostgreSQL accepts from untyped parameters (psycopg2's way) but refuses when
    SQLAlchemy's psycopg 3 dialect casts each parameter (``$1::VARCHAR``). Lakeworks ships
    psycopg 3 only, so MLflow gets this dialect instead of a second driver.
    """
    from sqlalchemy.dialects import registry

    registry.register("postgresql.lwpsycopg", __name__, "MlflowPsycopgDialect")


def __getattr__(name: str) -> object:
    # The dialect class is built on first use, so importing this module stays cheap.
    if name == "MlflowPsycopgDialect":
        return _dialect_class()
    raise AttributeError(name)


def _dialect_class() -> type:
    import psycopg
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
    from sqlalchemy.engine.interfaces import BindTyping

    class MlflowPsycopgDialect(PGDialect_psycopg):
        # No casts in the SQL, and parameters bound client-side as literals, as psycopg2
        # does: PostgreSQL then types each one from its context.
        bind_typing = BindTyping.NONE
        supports_statement_cache = True

        def create_connect_args(self, url: Any) -> Any:
            args, kwargs = super().create_connect_args(url)
            kwargs["cursor_factory"] = psycopg.ClientCursor
            return args, kwargs

    return MlflowPsycopgDialect


_register_psycopg_dialect()


def mlflow_database_url(settings: Settings) -> str:
    """The SQLAlchemy URL of MLflow's store for these settings (see the module docstring)."""
    if settings.mlflow_database_url:
        return settings.mlflow_database_url
    main = make_url(settings.resolved_database_url)
    if main.get_backend_name() == "sqlite":
        database = Path(main.database or "lakeworks.db")
        return f"sqlite:///{(database.parent / 'mlflow.db').resolve()}"
    if main.get_backend_name() == "postgresql":
        schema = settings.mlflow_schema
        if not schema.replace("_", "").isalnum():
            raise InvalidInput(f"LAKEWORKS_MLFLOW_SCHEMA {schema!r} is not a plain identifier.")
        # search_path, not table prefixes: MLflow's tables and its alembic_version then sit in
        # that schema untouched by Lakeworks' own.
        url = main.set(drivername="postgresql+lwpsycopg").update_query_dict(
            {"options": f"-csearch_path={schema}"}
        )
        return url.render_as_string(hide_password=False)
    return main.render_as_string(hide_password=False)


def _engine(url: str) -> Engine:
    """MLflow's engine for ``url``; a SQLite file in WAL mode with ``synchronous=NORMAL``.

    The same journal as Lakeworks' own SQLite store (``store.database``): the MLflow UI's and
    the API's reads go on while a job logs metrics instead of waiting for its write lock, and a
    commit appends to the log without an fsync of its own (the log is synced at checkpoints).
    A crash of the process loses nothing committed; a power cut may lose the last commits,
    never the database. Stock MLflow leaves SQLite in its rollback-journal mode with an fsync
    per commit.
    """
    from mlflow.store.db.utils import create_sqlalchemy_engine_with_retry

    engine = create_sqlalchemy_engine_with_retry(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_journal)
        engine.dispose()  # the retry's first connection predates the listener
    return engine


def _sqlite_journal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _ensure_schema(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return
    options = parsed.query.get("options", "")
    option = options if isinstance(options, str) else options[0]
    if "search_path=" not in option:
        return
    schema = option.split("search_path=", 1)[1].split(",")[0].strip()
    from sqlalchemy import create_engine

    engine = create_engine(parsed.difference_update_query(["options"]))  # lwpsycopg: psycopg 3
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        engine.dispose()


def upgrade(settings: Settings) -> None:
    """Create or migrate MLflow's tables (part of ``lakeworks db upgrade``)."""
    from mlflow.store.db.utils import _all_tables_exist, _initialize_tables, _upgrade_db

    url = mlflow_database_url(settings)
    _ensure_schema(url)
    engine = _engine(url)
    try:
        if _all_tables_exist(engine):
            _upgrade_db(engine)
        else:
            _initialize_tables(engine)
        _tag_classic_experiments(engine)
    finally:
        engine.dispose()


def _tag_classic_experiments(engine: Engine) -> None:
    """Tag experiments of no kind (made by MLflow 2) for MLflow 3's classic view (see
    ``stores``); experiments with a kind keep theirs."""
    from lakeworks.tracking.stores import CLASSIC_KIND, KIND_TAG

    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO experiment_tags (key, value, experiment_id) "
                "SELECT :key, :value, experiment_id FROM experiments WHERE experiment_id NOT IN "
                "(SELECT experiment_id FROM experiment_tags WHERE key = :key)"
            ),
            {"key": KIND_TAG, "value": CLASSIC_KIND},
        )


def check_migrated(settings: Settings) -> None:
    """Raise ``DatabaseNotMigrated`` unless MLflow's schema is at this MLflow's head."""
    _check(_engine(mlflow_database_url(settings)), dispose=True)


def _check(engine: Engine, *, dispose: bool = False) -> None:
    from mlflow.store.db.utils import (
        _all_tables_exist,
        _get_latest_schema_revision,
        _get_schema_version,
    )

    try:
        current = _get_schema_version(engine) if _all_tables_exist(engine) else None
        if current != _get_latest_schema_revision():
            where = "empty" if current is None else f"at revision {current}"
            raise DatabaseNotMigrated(
                f"The experiments (MLflow) database is {where}. Run `lakeworks db upgrade` "
                "(with the same settings) and start again."
            )
    finally:
        if dispose:
            engine.dispose()


@dataclass
class Stores:
    """MLflow's tracking and registry stores for one platform."""

    url: str
    tracking: object  # mlflow SqlAlchemyStore (tracking)
    registry: object  # mlflow SqlAlchemyStore (model registry)

    def dispose(self) -> None:
        engine = getattr(self.tracking, "engine", None)  # the registry's too (open_stores)
        if engine is not None:
            engine.dispose()


def open_stores(settings: Settings) -> Stores:
    from lakeworks.tracking.stores import RegistryStore, TrackingStore

    url = mlflow_database_url(settings)
    engine = _engine(url)
    # Checked first: MLflow's stores would otherwise create tables in an empty database
    # behind the operator's back.
    try:
        _check(engine)
    except BaseException:
        engine.dispose()
        raise
    # One engine for both stores, this platform's own (tracking.stores).
    tracking = TrackingStore(url, ARTIFACT_ROOT, engine)
    registry = RegistryStore(url, tracking)
    return Stores(url=url, tracking=tracking, registry=registry)
