"""MLflow 3's SQL stores with Lakeworks' artifact layout for logged models (CML compat §9).

MLflow 3 clients log a model as a *LoggedModel*: the server picks its ``artifact_location``
(stock MLflow: ``<experiment>/models/<model_id>/artifacts``) and the client writes the model's
files there, not under the run. Compat §9 wants ``log_model(m, "artifacts")`` to land in
``/home/cdsw/.experiments/<e>/<r>/artifacts/artifacts``, loadable by that path and listed by
``list_artifacts(run_id, "artifacts")``, as MLflow 2 clients (preinstalled in runtimes) put it.
So a logged model created with a source run of the same experiment is placed in that run's
artifacts, under the model's name (MLflow refuses ``/``, ``.`` and ``:`` in it): exactly where
an MLflow 2 client would have written it. Logging two models of one name in one run overwrites
the first, as in MLflow 2. A logged model without a run keeps MLflow's place, which is still in
the experiment's folder in the project.

Experiments are created with MLflow 3's tag ``mlflow.experimentKind`` set to
``custom_model_development`` (unless the caller sets one): MLflow 3's UI otherwise guesses the
kind and opens an experiment in its GenAI view, built on tracing, which Lakeworks does not
offer. ``backend.upgrade`` tags experiments created before (by MLflow 2).

The registry store resolves ``models:/<model_id>`` sources through this platform's tracking
store, instead of the process-wide default client that stock MLflow uses (that would open a
store of its own, by default a ``mlflow.db`` in the working directory); the version's
``source`` is then the model's directory, as for a path registered by an MLflow 2 client.

The two stores of a platform share the one engine they are given (``backend.open_stores``).
Stock MLflow keeps one engine per database URL for the whole process (``_engine_map``); a
platform disposes of its stores' engine when it closes, so with that shared engine one
platform's close pulled the pool from under another's connections in use (two platforms on one
database in one process: the tests, a live server beside a test client). A connection checked
out across such a dispose went back to a pool nobody held, and was dropped unclosed (psycopg:
"connection ... was deleted while still open").
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import sqlalchemy
from mlflow.entities import ExperimentTag, LifecycleStage, Run, RunInputs, RunOutputs
from mlflow.entities.logged_model import LoggedModel
from mlflow.store.artifact.utils.models import _parse_model_uri
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as _RegistryStore
from mlflow.store.tracking.dbmodels.models import SqlLoggedModel, SqlMetric, SqlRun
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as _TrackingStore
from mlflow.store.tracking.sqlalchemy_store import (
    _get_orderby_clauses,
    _get_sqlalchemy_filter_clauses,
    _parse_experiment_ids,
)
from mlflow.utils.search_utils import SearchUtils
from mlflow.utils.uri import append_to_uri_path

from lakeworks.tracking import bulk

# MLflow 3's UI opens an experiment in its classic view (runs table) for this kind.
KIND_TAG = "mlflow.experimentKind"
CLASSIC_KIND = "custom_model_development"


class _GivenEngine:
    """Mixed into MLflow's stores: they use the engine they are given, not MLflow's engine of
    the process (module docstring). MLflow's ``__init__`` asks ``self._get_or_create_engine``."""

    _engine: sqlalchemy.engine.Engine

    def _get_or_create_engine(self, db_uri: str) -> sqlalchemy.engine.Engine:
        return self._engine


class TrackingStore(_GivenEngine, _TrackingStore):
    """MLflow's tracking store; logged models of a run live in the run's artifacts."""

    def __init__(
        self, db_uri: str, default_artifact_root: str, engine: sqlalchemy.engine.Engine
    ) -> None:
        self._engine = engine
        super().__init__(db_uri, default_artifact_root)

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Any = None
    ) -> str:
        tags = list(tags or [])
        if not any(tag.key == KIND_TAG for tag in tags):
            tags.append(ExperimentTag(KIND_TAG, CLASSIC_KIND))
        return str(super().create_experiment(name, artifact_location, tags))

    def _log_metrics_once(self, run_id: str, metrics: Any) -> None:
        """MLflow's ``_log_metrics_once`` (``log_metric``, ``log_batch``), its rows written
        with SQLAlchemy Core statements instead of one ORM object per metric and per latest
        value: the same rows in one transaction, the same validation, the same row locks.

        MLflow's ORM unit of work made ``log_batch`` of 1,000 metrics cost ~70 ms of CPU, of
        which the statements themselves are a few. A metric already stored (the primary key
        is the whole metric, so a retried call) makes the insert fail: then this hands the
        call to MLflow's own code, which finds the rows that exist and inserts the rest.
        """
        if not metrics:
            super()._log_metrics_once(run_id, metrics)  # only checks that the run is active
            return
        rows = bulk.metric_rows(run_id, metrics, self.sanitize_metric_value)
        with self.ManagedSessionMaker(read_only=False) as session:
            self._check_run_is_active(self._get_run(run_uuid=run_id, session=session))
            try:
                session.execute(sqlalchemy.insert(SqlMetric.__table__), rows)
                bulk.update_latest_metrics(session, run_id, rows)
                session.commit()
                return
            except sqlalchemy.exc.IntegrityError:
                session.rollback()
        super()._log_metrics_once(run_id, metrics)

    def _search_runs(
        self,
        experiment_ids: Any,
        filter_string: str,
        run_view_type: Any,
        max_results: Any,
        order_by: Any,
        page_token: str | None,
    ) -> tuple[list[Run], str | None]:
        """MLflow's ``_search_runs`` (3.17) unchanged but for one step: the runs' latest
        metrics, params and tags are read by ``bulk.run_entities`` instead of MLflow's eager
        loading (``selectinload`` into ORM objects, four fifths of the search's time)."""
        self._validate_max_results_param(max_results, allow_null=True)
        stages = set(LifecycleStage.view_type_to_stages(run_view_type))
        with self.ManagedSessionMaker() as session:
            parsed_filters = SearchUtils.parse_search_filter(filter_string)
            cases_orderby, parsed_orderby, sorting_joins = _get_orderby_clauses(order_by, session)
            stmt = sqlalchemy.select(SqlRun, *cases_orderby)
            attribute_filters, non_attribute_filters, dataset_filters = (
                _get_sqlalchemy_filter_clauses(parsed_filters, session, self._get_dialect())
            )
            for non_attr_filter in non_attribute_filters:
                stmt = stmt.join(non_attr_filter)
            for dataset_filter in dataset_filters:
                stmt = stmt.join(dataset_filter, SqlRun.run_uuid == dataset_filter.c.destination_id)
            for join in sorting_joins:
                stmt = stmt.outerjoin(join)
            offset = SearchUtils.parse_start_offset_from_page_token(page_token)
            experiment_ids = self._filter_experiment_ids(
                session, _parse_experiment_ids(experiment_ids)
            )
            stmt = (
                stmt.distinct()
                .filter(
                    SqlRun.experiment_id.in_(experiment_ids),
                    SqlRun.lifecycle_stage.in_(stages),
                    *attribute_filters,
                )
                .order_by(*parsed_orderby)
                .offset(offset)
            )
            if max_results is not None:
                stmt = stmt.limit(max_results + 1)
            queried_runs = session.execute(stmt).scalars(SqlRun).all()
            runs = bulk.run_entities(session, queried_runs)
            run_ids = [run.info.run_id for run in runs]
            inputs = self._get_run_inputs(run_uuids=run_ids, session=session)
            outputs = self._get_model_outputs_bulk(run_ids=run_ids, session=session)
            found = [
                Run(
                    run.info,
                    run.data,
                    RunInputs(dataset_inputs=inputs[index]),
                    RunOutputs(outputs[run.info.run_id]),
                )
                for index, run in enumerate(runs)
            ]
        next_page_token = None
        if max_results is not None and len(found) == max_results + 1:
            next_page_token = SearchUtils.create_page_token(offset + max_results)
            found = found[:max_results]
        return found, next_page_token

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Any = None,
        params: Any = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        run_artifacts = ""
        if source_run_id:
            run = self.get_run(source_run_id)
            if str(run.info.experiment_id) == str(experiment_id):
                run_artifacts = str(run.info.artifact_uri)
        model: LoggedModel = super().create_logged_model(
            experiment_id=experiment_id,
            name=name,
            source_run_id=source_run_id,
            tags=tags,
            params=params,
            model_type=model_type,
        )
        if not run_artifacts:
            return model
        location = append_to_uri_path(run_artifacts, model.name)
        with self.ManagedSessionMaker(read_only=False) as session:
            session.query(SqlLoggedModel).filter(SqlLoggedModel.model_id == model.model_id).update(
                {"artifact_location": location}
            )
        return self.get_logged_model(model.model_id)


class RegistryStore(_GivenEngine, _RegistryStore):
    """MLflow's registry store, on ``tracking``'s engine; logged models are looked up in
    ``tracking``."""

    def __init__(self, db_uri: str, tracking: TrackingStore) -> None:
        self._engine = tracking.engine
        super().__init__(db_uri)
        self.tracking = tracking

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Any = None,
        run_link: str | None = None,
        description: str | None = None,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> Any:
        logged_id = None
        if urllib.parse.urlparse(source).scheme == "models":
            logged_id = _parse_model_uri(source).model_id
        wanted = logged_id or (model_id if not run_id else None)
        if wanted:
            logged = self.tracking.get_logged_model(wanted)
            if logged_id:
                source = str(logged.artifact_location)
            run_id = run_id or logged.source_run_id
        return super().create_model_version(
            name,
            source,
            run_id=run_id,
            tags=tags,
            run_link=run_link,
            description=description,
            local_model_path=local_model_path,
            model_id=model_id,
        )
