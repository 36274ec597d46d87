"""Each platform's embedded MLflow has database pools of its own: closing one platform (a
server's shutdown) leaves another platform's connections on the same database alone."""

from __future__ import annotations

from sqlalchemy import text

from lakeworks.config import Settings
from lakeworks.services.platform import Platform
from lakeworks.store.uow import Store
from lakeworks.tracking.embedded import tracking_for


def test_closing_one_platform_leaves_anothers_mlflow_connections_alone(
    settings: Settings, store: Store
) -> None:
    first, second = Platform(settings, store), Platform(settings, store)
    mine, theirs = tracking_for(first), tracking_for(second)
    for store_of in (lambda t: t.store, lambda t: t.registry):
        assert store_of(mine).engine is not store_of(theirs).engine
    assert mine.store.engine is mine.registry.engine  # one pool per platform, not two
    engine = theirs.store.engine
    pool = engine.pool
    try:
        with engine.connect() as connection:  # in use while the other platform shuts down
            first.close()
            assert connection.execute(text("SELECT 1")).scalar() == 1
        # Back in the pool it came from, which is still the engine's: kept open for reuse,
        # not dropped with a pool nobody holds.
        assert engine.pool is pool
        assert pool.checkedin() == 1
        with engine.connect() as again:
            assert again.execute(text("SELECT 2")).scalar() == 2
    finally:
        second.close()
