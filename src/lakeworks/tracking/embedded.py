"""One embedded MLflow per platform: its stores, project scope, and MLflow's Flask handlers.

MLflow's REST handlers read their stores from module globals in ``mlflow.server.handlers``
(``mlflow server`` fills them from ``_MLFLOW_SERVER_*`` environment variables in each worker).
Lakeworks fills those globals directly, from this module only, instead of through the process
environment: ``bind_handlers`` points them at the platform's stores before a request is handed
to MLflow. A process serves one platform, so in practice they are set once.

Those handler globals are the one piece of this room that stays process-wide: they are MLflow's
(its Flask handlers read no other store), so two platforms in one process (tests) take turns,
each request binding its own. Lakeworks' own side, the stores and scope, belongs to the platform
(``Platform.component``): a fresh platform opens fresh stores, and ``Platform.close()`` (or the
platform's collection) disposes of their engines.
"""

from __future__ import annotations

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

    def close(self) -> None:
        """Dispose of the stores' connection pools (a later query opens new ones)."""
        self.stores.dispose()


def tracking_for(platform: Platform) -> Tracking:
    """The platform's embedded MLflow, opened on first use (``DatabaseNotMigrated`` if its
    schema is not migrated)."""

    def open_tracking() -> Tracking:
        stores = open_stores(platform.settings)
        return Tracking(stores=stores, scope=Scope(stores.tracking, stores.registry))

    return platform.component(Tracking, open_tracking, close=Tracking.close)


def bind_handlers(tracking: Tracking) -> None:
    """Point MLflow's request handlers at ``tracking``'s stores."""
    from mlflow.server import handlers

    if handlers._tracking_store is not tracking.store:
        handlers._tracking_store = tracking.store
        handlers._model_registry_store = tracking.registry
