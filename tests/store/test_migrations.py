"""The shipped Alembic migrations, and the start-up check that refuses an unmigrated database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from lakeworks.errors import DatabaseNotMigrated
from lakeworks.store.database import (
    check_migrated,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)
from lakeworks.store.tables import Base
from lakeworks.store.uow import Store


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'fresh.db'}")
    yield engine
    engine.dispose()


def test_upgrade_creates_every_table_on_an_empty_sqlite_file(empty_engine: Engine) -> None:
    assert inspect(empty_engine).get_table_names() == []

    upgrade(empty_engine)

    tables = set(inspect(empty_engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert current_revision(empty_engine) == head_revision(empty_engine)
    check_migrated(empty_engine)  # does not raise


def test_the_migrations_match_the_table_definitions(empty_engine: Engine) -> None:
    # A column added to tables.py without a migration would only fail on a real server.
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_an_empty_database_is_refused_with_the_command_that_fixes_it(
    empty_engine: Engine,
) -> None:
    with pytest.raises(DatabaseNotMigrated) as caught:
        check_migrated(empty_engine)
    assert "empty" in caught.value.message
    assert "`lakeworks db upgrade`" in caught.value.message

    with pytest.raises(DatabaseNotMigrated):
        Store(empty_engine).check_migrated()


def test_a_database_at_an_unknown_revision_is_refused(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))

    with pytest.raises(DatabaseNotMigrated, match="at revision ffff"):
        check_migrated(empty_engine)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_upgrading_twice_is_harmless_and_keeps_data(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    store = Store(empty_engine)
    with store.transaction() as uow:
        uow.users.add(username="keep", name="", email="", password_hash=None, is_admin=False)

    upgrade(empty_engine)

    assert current_revision(empty_engine) == head_revision(empty_engine)
    with store.transaction() as uow:
        assert uow.users.by_username("keep") is not None
