"""Facts about processes read from ``/proc``, and signalling that never hits a stranger.

A pid alone does not name a process: once it ends, the number can be handed to a new one. A
pid together with its start time (``/proc/<pid>/stat`` field 22, clock ticks since boot) does,
so every check and every signal here goes through both.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str  # R, S, D, Z (zombie), X (dead), ...
    pgrp: int
    start_time: int  # clock ticks after boot

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X")


def read_stat(pid: int) -> ProcStat | None:
    """The process's ``/proc/<pid>/stat``, or ``None`` if there is no such process."""
    try:
        data = (PROC / str(pid) / "stat").read_bytes()
    except OSError:  # gone (ENOENT, ESRCH while it exits) or never there
        return None
    # Field 2 (the command name) may hold spaces and parentheses; the fields after its
    # closing parenthesis are plain numbers, field 3 first.
    fields = data[data.rindex(b")") + 2 :].split()
    return ProcStat(
        pid=pid, state=fields[0].decode(), pgrp=int(fields[2]), start_time=int(fields[19])
    )


def is_running(pid: int, start_time: int) -> bool:
    """Whether the process that started at ``start_time`` with this pid still runs."""
    stat = read_stat(pid)
    return stat is not None and stat.start_time == start_time and stat.alive


def group_members(pgid: int, since: int) -> list[int]:
    """Live processes of process group ``pgid`` that started at ``since`` or later.

    The group's members all started after its leader, so ``since`` (the leader's start time)
    keeps a recycled group id from matching strangers that started before our leader.
    """
    members = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = read_stat(int(entry.name))
        if stat is not None and stat.pgrp == pgid and stat.start_time >= since and stat.alive:
            members.append(stat.pid)
    return members


def kill_all(pids: list[int] | set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def exit_code(status: int) -> int:
    """A ``waitpid`` status as subprocess reports it: the code, or minus the signal."""
    return os.waitstatus_to_exitcode(status)
