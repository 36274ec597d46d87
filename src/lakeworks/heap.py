"""The server process's long-lived objects, kept out of the garbage collector's full passes.

CPython's cyclic collector walks every object it tracks in a full (oldest-generation) pass,
and schedules one whenever objects that survived the younger passes reach a quarter of the
old ones. A Lakeworks server holds some 300,000 such objects once the embedded MLflow is
imported (modules, classes, functions, SQLAlchemy's mappings), none of them ever garbage: a
full pass walked them all in ~100 ms, and a request that creates many objects that live a
while (``search_runs`` over 1,000 runs) set one off every third call. ``freeze`` collects
what is garbage now, then moves everything else out of the collector's sight
(``gc.freeze``): full passes then walk only what was made after, ~3 ms in that search.

Called where the server's large one-time imports are done: before the server starts serving
(``cli``), and once MLflow's server modules are imported on the first MLflow call
(``tracking.gate``). Frozen objects are still freed by reference counting; only a cycle
among them that becomes garbage later stays, which objects made at start-up do not do.
"""

from __future__ import annotations

import gc


def freeze() -> None:
    """Collect the garbage there is, then exempt every object now alive from later passes."""
    gc.collect()
    gc.freeze()
