"""MLflow's database for tests: a migrated SQLite file per test (copied from a template made
once), or a PostgreSQL schema per test run (emptied before each test).

Test modules that talk to the embedded MLflow override ``settings`` with ``tracking_settings``.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from lakeworks.config import Settings
from lakeworks.tracking import backend

_TEMPLATES: dict[str, Path] = {}
_PG_SCHEMAS: dict[str, str] = {}


def tracking_settings(settings: Settings, template_dir: Path) -> Settings:
    """``settings`` with a clean, migrated MLflow database."""
    main = make_url(settings.resolved_database_url)
    if main.get_backend_name() == "sqlite":
        if "sqlite" not in _TEMPLATES:
            template_settings = Settings(
                data_dir=template_dir, database_url=f"sqlite:///{template_dir}/lakeworks.db"
            )
            backend.upgrade(template_settings)
            _TEMPLATES["sqlite"] = template_dir / "mlflow.db"
        target = Path(backend.mlflow_database_url(settings).removeprefix("sqlite:///"))
        shutil.copy(_TEMPLATES["sqlite"], target)
        return settings
    key = main.render_as_string(hide_password=False)
    if key not in _PG_SCHEMAS:
        _PG_SCHEMAS[key] = f"lwmlflow_{uuid.uuid4().hex[:10]}"
        updated = settings.model_copy(update={"mlflow_schema": _PG_SCHEMAS[key]})
        backend.upgrade(updated)
    updated = settings.model_copy(update={"mlflow_schema": _PG_SCHEMAS[key]})
    _empty_pg(backend.mlflow_database_url(updated))
    return updated


def _empty_pg(url: str) -> None:
    engine = create_engine(url)
    try:
        names = [n for n in inspect(engine).get_table_names() if n != "alembic_version"]
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


def drop_pg_schemas() -> None:
    for key, schema in _PG_SCHEMAS.items():
        engine = create_engine(make_url(key).difference_update_query(["options"]))
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
    _PG_SCHEMAS.clear()
