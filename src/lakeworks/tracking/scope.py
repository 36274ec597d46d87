"""Which project an MLflow object belongs to.

An experiment belongs to the project named by its tag ``lakeworks.project_id`` (set by Lakeworks
when the experiment is created, and never settable by clients); a run belongs to its
experiment's project; a registered model to the project in its own ``lakeworks.project_id`` tag
(the project it was registered from); an MLflow 3 logged model to its experiment's project.
Objects without the tag (MLflow's ``Default`` experiment)
belong to no project: only site administrators see them.

The answers are cached: an experiment never changes project and a run never changes
experiment. A registered model's entry is dropped when it is renamed or deleted.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from lakeworks.errors import NotFound

PROJECT_TAG = "lakeworks.project_id"
MODEL_ID_TAG = "lakeworks.model_id"
VERSION_ID_TAG = "lakeworks.version_id"
JOB_RUN_TAG = "lakeworks.job_run_id"
RESERVED_PREFIX = "lakeworks."

_CACHE_SIZE = 10_000


class _Lru:
    def __init__(self) -> None:
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)

    def drop(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


def _is_missing(exc: Exception) -> bool:
    return getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


class Scope:
    """Project lookups over MLflow's stores (see the module docstring)."""

    def __init__(self, tracking: Any, registry: Any) -> None:
        self.tracking = tracking
        self.registry = registry
        self._experiments = _Lru()  # experiment id -> project id ("" = none)
        self._runs = _Lru()  # run id -> experiment id
        self._models = _Lru()  # registered model name -> project id ("" = none)
        self._logged = _Lru()  # logged model id (MLflow 3) -> experiment id

    @staticmethod
    def _lookup(cache: _Lru, key: str, fetch: Callable[[], str], what: str) -> str:
        """``cache[key]``, else ``fetch()`` remembered; ``NotFound`` naming ``what`` if MLflow
        has no such object."""
        from mlflow.exceptions import MlflowException

        cached = cache.get(key)
        if cached is not None:
            return str(cached)
        try:
            value = fetch()
        except MlflowException as exc:
            if _is_missing(exc):
                raise NotFound(f"{what} {key!r} not found.") from exc
            raise
        cache.put(key, value)
        return value

    def experiment_project(self, experiment_id: str) -> str:
        """The project id of an experiment ("" for none); ``NotFound`` if it does not exist."""
        key = str(experiment_id)
        return self._lookup(
            self._experiments,
            key,
            lambda: str(self.tracking.get_experiment(key).tags.get(PROJECT_TAG, "")),
            "Experiment",
        )

    def remember_experiment(self, experiment_id: str, project_id: str) -> None:
        self._experiments.put(str(experiment_id), project_id)

    def run_experiment(self, run_id: str) -> str:
        """The experiment id of a run; ``NotFound`` if the run does not exist."""
        key = str(run_id)
        return self._lookup(
            self._runs, key, lambda: str(self.tracking.get_run(key).info.experiment_id), "Run"
        )

    def remember_run(self, run_id: str, experiment_id: str) -> None:
        self._runs.put(str(run_id), str(experiment_id))

    def run_project(self, run_id: str) -> str:
        return self.experiment_project(self.run_experiment(run_id))

    def logged_model_project(self, model_id: str) -> str:
        """The project id of an MLflow 3 logged model (its experiment's); ``NotFound`` if
        missing."""
        if not model_id:
            raise NotFound("The request names no logged model (model_id).")
        experiment_id = self._lookup(
            self._logged,
            model_id,
            lambda: str(self.tracking.get_logged_model(model_id).experiment_id),
            "Logged model",
        )
        return self.experiment_project(experiment_id)

    def model_project(self, name: str) -> str:
        """The project id of a registered model ("" for none); ``NotFound`` if missing."""
        return self._lookup(
            self._models,
            name,
            lambda: str(self.registry.get_registered_model(name).tags.get(PROJECT_TAG, "")),
            "Registered model",
        )

    def forget_model(self, name: str) -> None:
        self._models.drop(name)
