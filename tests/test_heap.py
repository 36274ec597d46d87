"""``heap.freeze``: garbage is collected first, what lives is kept out of later full passes,
and the server's largest import (MLflow's server modules, on the first MLflow call) ends
with a freeze."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

from lakeworks import heap


class _Node:
    def __init__(self) -> None:
        self.me = self


def test_freeze_collects_garbage_first_then_freezes_what_lives() -> None:
    garbage = _Node()  # a cycle: only the collector frees it
    gone = weakref.ref(garbage)
    del garbage
    kept = _Node()
    gc.disable()  # no pass of its own in between
    try:
        heap.freeze()
        assert gone() is None
        assert gc.get_freeze_count() > 0
        assert not any(obj is kept for obj in gc.get_objects())  # out of the passes' sight
    finally:
        gc.unfreeze()
        gc.enable()


def test_the_first_mlflow_call_freezes_mlflows_server_modules() -> None:
    code = (
        "import gc, sys\n"
        "from lakeworks.tracking.gate import mlflow_wsgi_app\n"
        "assert 'mlflow.server' not in sys.modules\n"
        "before = gc.get_freeze_count()\n"
        "mlflow_wsgi_app()\n"
        "print(before, gc.get_freeze_count())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    before, after = (int(word) for word in out.stdout.split())
    assert before == 0 and after > 100_000
