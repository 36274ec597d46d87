"""Helpers for executor tests (the fixtures that use them are in ``conftest``)."""

from __future__ import annotations

import time
from typing import Any

from lakeworks.entities.workloads import ExitInfo, WorkloadSpec
from lakeworks.executors.base import Handle
from lakeworks.executors.local import LocalExecutor

TIMEOUT = 15.0


class TrackingExecutor(LocalExecutor):
    """Remembers what it started, so a failing test leaves no process behind."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started: list[Handle] = []

    def start(self, spec: WorkloadSpec) -> Handle:
        handle = super().start(spec)
        self.started.append(handle)
        return handle

    def clean_up(self) -> None:
        for handle in self.started:
            self.stop(handle, grace=0)
            self.poll(handle)
        self.close()


def wait_exit(executor: LocalExecutor, handle: Handle, timeout: float = TIMEOUT) -> ExitInfo:
    deadline = time.monotonic() + timeout
    while (info := executor.poll(handle)) is None:
        assert time.monotonic() < deadline, "the workload did not end in time"
        time.sleep(0.02)
    return info


def wait_log(executor: LocalExecutor, handle: Handle, text: str, timeout: float = TIMEOUT) -> str:
    deadline = time.monotonic() + timeout
    while text not in (log := executor.logs(handle)[0].decode()):
        assert time.monotonic() < deadline, f"{text!r} not in the log: {log!r}"
        time.sleep(0.02)
    return log
