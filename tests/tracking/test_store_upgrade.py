"""An experiments store made by the MLflow 2.22 Lakeworks embedded before upgrades to MLflow 3
with ``lakeworks db upgrade`` (``backend.upgrade``), keeping its experiments and runs, which then
open in MLflow 3's classic view. The old store is made with MLflow's own migrations, stopped at
MLflow 2.22.5's last revision: the schema an MLflow 2.22 server created."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from mlflow.store.db.utils import _get_alembic_config, _get_latest_schema_revision
from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase
from sqlalchemy import create_engine, text

from lakeworks.config import Settings
from lakeworks.errors import DatabaseNotMigrated
from lakeworks.tracking import backend

MLFLOW_2_22_HEAD = "0584bdc529eb"  # mlflow 2.22.5's _get_latest_schema_revision()


def test_an_mlflow_2_store_upgrades_to_mlflow_3(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/lakeworks.db")
    url = backend.mlflow_database_url(settings)
    engine = create_engine(url)
    try:
        InitialBase.metadata.create_all(engine)  # as MLflow starts every store
        with engine.begin() as conn:
            config = _get_alembic_config(url)
            config.attributes["connection"] = conn
            command.upgrade(config, MLFLOW_2_22_HEAD)
            # What Lakeworks 2.22 wrote: a project's experiment with a run.
            conn.execute(
                text(
                    "INSERT INTO experiments (experiment_id, name, artifact_location, "
                    "lifecycle_stage, creation_time, last_update_time) "
                    "VALUES (1, 'old-exp', '/home/cdsw/.experiments/1', 'active', 0, 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO experiment_tags (key, value, experiment_id) "
                    "VALUES ('lakeworks.project_id', 'abcd-efgh-ijkl-mnop', 1)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name,"
                    " user_id, status, start_time, end_time, source_version, lifecycle_stage,"
                    " artifact_uri, experiment_id) VALUES ('r1', 'old-run', 'LOCAL', '', '',"
                    " 'alice', 'FINISHED', 0, 1, '', 'active',"
                    " '/home/cdsw/.experiments/1/r1/artifacts', 1)"
                )
            )
        assert _get_latest_schema_revision() != MLFLOW_2_22_HEAD
    finally:
        engine.dispose()

    with pytest.raises(DatabaseNotMigrated, match="lakeworks db upgrade"):
        backend.check_migrated(settings)
    backend.upgrade(settings)
    backend.check_migrated(settings)

    stores = backend.open_stores(settings)
    try:
        tracking = stores.tracking
        experiment = tracking.get_experiment("1")  # type: ignore[attr-defined]
        assert experiment.name == "old-exp"
        assert experiment.tags["lakeworks.project_id"] == "abcd-efgh-ijkl-mnop"
        assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
        assert tracking.get_run("r1").info.run_name == "old-run"  # type: ignore[attr-defined]
        # MLflow 3's logged models work on the upgraded store, in the run's artifacts.
        logged = tracking.create_logged_model("1", name="clf", source_run_id="r1")  # type: ignore[attr-defined]
        assert logged.artifact_location == "/home/cdsw/.experiments/1/r1/artifacts/clf"
    finally:
        stores.dispose()
    backend.upgrade(settings)  # again: nothing to do, tags not doubled
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            kinds = conn.execute(
                text(
                    "SELECT experiment_id, COUNT(*) FROM experiment_tags "
                    "WHERE key = 'mlflow.experimentKind' GROUP BY experiment_id"
                )
            ).all()
        assert {count for _, count in kinds} == {1}  # one per experiment
    finally:
        engine.dispose()
