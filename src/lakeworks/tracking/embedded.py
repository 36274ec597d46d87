"""One embedded MLflow per platform: its stores, project scope, and MLflow's Flask handlers.

MLflow's REST handlers read their stores from module globals in ``mlflow.server.handlers``
(``mlflow server`` fills them from ``_MLFLOW_SERVER_*`` environment variables in each worker).
Lakeworks fills those globals directly, from this module only, instead of through the process
environment: ``bind_handlers`` points them at the platform's stores before a request is handed
to MLflow. A process serves one platform, so in practice they are set once.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakeworks.tracking.backend import Stores, open_stores
from lakeworks.tracking.scope import Scope

if TYPE_CHECKING:
    from lakeworks.services.platform import Platform


@dataclass
class Tracking:
    stores: Stores
    scope: Scope

    @property
    def store(self) -> Any:
        """MLflow's tracking store (``mlflow.store.tracking.sqlalchemy_store.SqlAlchemyStore``)."""
        return self.stores.tracking

    @property
    def registry(self) -> Any:
        """MLflow's model registry store."""
        return self.stores.registry


_lock = threading.Lock()
_by_platform: weakref.WeakKeyDictionary[Platform, Tracking] = weakref.WeakKeyDictionary()


def tracking_for(platform: Platform) -> Tracking:
    """The platform's embedded MLflow, opened on first use (``DatabaseNotMigrated`` if its
    schema is not migrated)."""
    with _lock:
        tracking = _by_platform.get(platform)
        if tracking is None:
            stores = open_stores(platform.settings)
            tracking = Tracking(stores=stores, scope=Scope(stores.tracking, stores.registry))
            _by_platform[platform] = tracking
            weakref.finalize(platform, stores.dispose)
        return tracking


def bind_handlers(tracking: Tracking) -> None:
    """Point MLflow's request handlers at ``tracking``'s stores."""
    from mlflow.server import handlers

    if handlers._tracking_store is not tracking.store:
        handlers._tracking_store = tracking.store
        handlers._model_registry_store = tracking.registry
