"""Network namespaces made ahead of time, so that a workload's start does not wait for pasta.

Connecting a workload's new network namespace (``network.attach``) was most of a job's start
under load: pasta's own start (150-230 ms) after bwrap had set the sandbox up (~80 ms), both
on the way to the first line of user code. The pool keeps a few namespaces connected before
they are needed: a workload takes one and joins it before bwrap starts (``nsenter``, as a
worker joins its parent's), so bwrap sets the sandbox up while nothing else waits.

Each namespace is made by pasta itself (``pasta [options] -- command``): pasta creates it,
runs a *holder* in it and serves it with what every workload without ports of its own gets:
no port of the machine forwarded in (``-t none``), the server's port and the site's ports
forwarded out (``-T``; the pool is kept for one such list, the one asked for last). The holder
is ``/bin/sh`` reading its standard input, a pipe whose other end the pool holds:

- taken for a workload, the pool writes a line to it and the holder becomes ``sleep
  infinity``, which keeps the namespace for the workload until the executor ends it with the
  workload (pasta ends when the holder does);
- never taken, the pipe reads end-of-file when the pool closes it (``close``, or a namespace
  made for other ports) or when the server dies, however it dies: the holder exits, pasta
  with it, and nothing stays behind.

A namespace serves one workload only. Taken, it leaves the pool for good; a workload never
gets a namespace another workload has used. Workloads with ports of their own (sessions,
applications, models) and workers (which join their parent's) do not use the pool.

Only a server running as root uses it: an ordinary user's pasta would make the namespace in
a user namespace of its own in which the workload would see itself as root.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lakeworks.executors.base import StartFailed
from lakeworks.executors.network import ATTACH_TIMEOUT, has_default_route, listening
from lakeworks.executors.processes import ProcStat, kill_all, read_stat

log = logging.getLogger(__name__)

# The holder: waits for the pool's word (a line: taken) or end-of-file (not wanted).
_HOLDER = "read line && exec sleep infinity"
# Run by setsid's child (so that pasta belongs to no process of the server, like pasta
# attached the usual way): say pasta's pid, which it keeps through exec.
_REPORT = 'echo "$$"; exec "$@" >/dev/null'
# Made at the lowest priority, so that making the next namespace takes no CPU from the start
# that took the last one; pasta gets the normal priority back once it is ready.
_NICE = "19"
# After a failed attempt, wait before the next: pasta missing or broken is logged once a try.
RETRY_PAUSE = 5.0
_SIGNALS = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGPIPE,
    signal.SIGXFSZ,
    signal.SIGCHLD,
)


@dataclass(frozen=True)
class Namespace:
    """A connected network namespace: its holder (whose ``/proc/<pid>/ns/net`` names it) and
    the pasta serving it, each as pid and start time; ``handoff`` is the pool's end of the
    holder's pipe (``-1`` once taken)."""

    holder_pid: int
    holder_start_time: int
    pasta_pid: int
    pasta_start_time: int
    host_ports: tuple[int, ...]
    handoff: int = -1

    def alive(self) -> bool:
        holder, pasta = read_stat(self.holder_pid), read_stat(self.pasta_pid)
        return (
            holder is not None
            and holder.alive
            and holder.start_time == self.holder_start_time
            and pasta is not None
            and pasta.alive
            and pasta.start_time == self.pasta_start_time
        )


def end(namespace: Namespace) -> None:
    """End the namespace's holder and pasta (each only if it is still the same process)."""
    if namespace.handoff >= 0:
        with contextlib.suppress(OSError):
            os.close(namespace.handoff)
    end_processes(
        namespace.holder_pid,
        namespace.holder_start_time,
        namespace.pasta_pid,
        namespace.pasta_start_time,
    )


def end_processes(holder_pid: int, holder_start: int, pasta_pid: int, pasta_start: int) -> None:
    """SIGKILL to the holder (a ``sleep``), SIGTERM to pasta, each if not already gone."""
    for pid, start_time, sig in (
        (holder_pid, holder_start, signal.SIGKILL),
        (pasta_pid, pasta_start, signal.SIGTERM),
    ):
        stat = read_stat(pid)
        if stat is not None and stat.start_time == start_time:
            kill_all([pid], sig)


def usable() -> str:
    """ "" when the pool can work here, else why not."""
    if os.geteuid() != 0:
        return "the server does not run as root"
    if shutil.which("setsid") is None:
        return "setsid (util-linux) is not installed"
    return ""


class NamespacePool:
    """Up to ``size`` namespaces connected by ``pasta``, made by a background thread from the
    first ``take`` on; ``close`` ends the ones not taken. Thread-safe."""

    def __init__(self, pasta: str, size: int) -> None:
        self._pasta = pasta
        self._size = size
        self._cond = threading.Condition()
        self._ready: list[Namespace] = []
        self._ports: tuple[int, ...] | None = None  # what the pool makes namespaces for
        self._closed = False
        self._filler: threading.Thread | None = None

    def take(self, host_ports: list[int] | tuple[int, ...]) -> Namespace | None:
        """A namespace from which ``host_ports`` of the machine are reachable, now theirs
        alone; ``None`` when none is ready (the caller connects one the usual way). Asking
        for other ports than before makes the pool turn to those."""
        taken: Namespace | None = None
        with self._cond:
            if self._closed or self._size <= 0:
                return None
            stale = self._turn_to(host_ports)
            while self._ready and taken is None:
                candidate = self._ready.pop(0)
                if candidate.alive():
                    taken = candidate
                else:
                    stale.append(candidate)
        for namespace in stale:
            end(namespace)
        return _hand_over(taken) if taken is not None else None

    def prepare(self, host_ports: list[int] | tuple[int, ...], timeout: float = 0.0) -> bool:
        """Make namespaces for ``host_ports`` from now on, without taking one; wait up to
        ``timeout`` seconds until the pool is full. Whether it is."""
        with self._cond:
            if self._closed or self._size <= 0:
                return False
            stale = self._turn_to(host_ports)
        for namespace in stale:
            end(namespace)
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._ready) < self._size:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return False
                self._cond.wait(left)
            return True

    def waiting(self) -> list[Namespace]:
        """The namespaces not taken yet (a copy)."""
        with self._cond:
            return list(self._ready)

    def close(self) -> None:
        """End every namespace not taken and stop making more (taken ones are left to their
        workloads). Idempotent."""
        with self._cond:
            self._closed = True
            left, self._ready = self._ready, []
            filler = self._filler
            self._cond.notify_all()
        for namespace in left:
            end(namespace)
        if filler is not None and filler is not threading.current_thread():
            filler.join(timeout=ATTACH_TIMEOUT + 1)

    def _turn_to(self, host_ports: list[int] | tuple[int, ...]) -> list[Namespace]:
        """(Holding the lock.) Make namespaces for ``host_ports`` from now on, and wake the
        filler; returns those made for other ports, for the caller to end."""
        wanted = tuple(sorted(set(host_ports)))
        stale: list[Namespace] = []
        if wanted != self._ports:
            stale, self._ready, self._ports = self._ready, [], wanted
        if self._filler is None:
            self._filler = threading.Thread(target=self._fill, name="netns-pool", daemon=True)
            self._filler.start()
        self._cond.notify_all()
        return stale

    def _fill(self) -> None:
        while True:
            with self._cond:
                while not self._closed and len(self._ready) >= self._size:
                    self._cond.wait()
                if self._closed:
                    return
                ports = self._ports or ()
            try:
                made: Namespace | None = make(self._pasta, ports)
            except StartFailed as exc:
                log.warning("could not make a network namespace ahead: %s", exc)
                with self._cond:
                    self._cond.wait(RETRY_PAUSE)
                continue
            with self._cond:
                if not self._closed and ports == self._ports:
                    self._ready.append(made)  # type: ignore[arg-type]
                    made = None
                    self._cond.notify_all()
            if made is not None:
                end(made)


def _hand_over(namespace: Namespace) -> Namespace | None:
    """Tell the holder it is taken (it then keeps the namespace whatever the pool does)."""
    try:
        os.write(namespace.handoff, b"\n")
    except OSError:
        end(namespace)
        return None
    finally:
        with contextlib.suppress(OSError):
            os.close(namespace.handoff)
    return Namespace(
        namespace.holder_pid,
        namespace.holder_start_time,
        namespace.pasta_pid,
        namespace.pasta_start_time,
        namespace.host_ports,
    )


def make(pasta: str, host_ports: tuple[int, ...], timeout: float = ATTACH_TIMEOUT) -> Namespace:
    """A new namespace connected by pasta, its holder waiting for the word (see above); it is
    ready when its default route is set and it listens on each of ``host_ports`` (pasta's
    side of ``-T``). Raises ``StartFailed`` (and leaves nothing behind) when it is not ready
    within ``timeout``."""
    holder_in, handoff = os.pipe()
    pasta_pid = 0
    try:
        with tempfile.TemporaryFile(prefix="lakeworks-netns-") as errors:
            try:
                pasta_pid = _start(pasta, host_ports, holder_in, errors, timeout)
            finally:
                os.close(holder_in)
            namespace = _wait_ready(pasta_pid, host_ports, handoff, timeout, errors)
        os.setpriority(os.PRIO_PROCESS, pasta_pid, 0)
    except BaseException:
        os.close(handoff)  # the holder, if any, reads end-of-file and exits; pasta follows
        if pasta_pid:
            kill_all([pasta_pid], signal.SIGTERM)
        raise
    return namespace


def _start(
    pasta: str, host_ports: tuple[int, ...], holder_in: int, errors: IO[bytes], timeout: float
) -> int:
    """Start pasta (``holder_in`` the holder's standard input); its pid."""
    forwards = ",".join(str(p) for p in host_ports) or "none"
    command = [pasta, "--quiet", "--config-net", "--netns-only", "--no-map-gw", "--runas", "0:0"]
    command += ["-u", "none", "-U", "none", "-t", "none", "-T", forwards, "--"]
    command += ["/bin/sh", "-c", _HOLDER]
    setsid = shutil.which("setsid") or "/usr/bin/setsid"
    nice = shutil.which("nice") or "/usr/bin/nice"
    argv = [setsid, "--fork", nice, "-n", _NICE, "/bin/sh", "-c", _REPORT, "lakeworks-netns"]
    report_out, report_in = os.pipe()
    try:
        try:
            spawned = os.posix_spawn(
                setsid,
                argv + command,
                {"PATH": "/usr/bin:/bin"},
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, holder_in, 0),
                    (os.POSIX_SPAWN_DUP2, report_in, 1),
                    (os.POSIX_SPAWN_DUP2, errors.fileno(), 2),
                ],
                setsigmask=(),
                setsigdef=_SIGNALS,
            )
        except OSError as exc:
            raise StartFailed(f"could not start pasta: {exc}") from exc
        finally:
            os.close(report_in)
        os.waitpid(spawned, 0)  # setsid's own half: it forks and exits
        return _read_pid(report_out, time.monotonic() + timeout)
    finally:
        os.close(report_out)


def _read_pid(fd: int, deadline: float) -> int:
    text = b""
    while not text.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise StartFailed("pasta did not start in time")
        chunk = os.read(fd, 32)
        if not chunk:
            raise StartFailed("pasta did not start")
        text += chunk
    return int(text)


def _wait_ready(
    pasta_pid: int,
    host_ports: tuple[int, ...],
    handoff: int,
    timeout: float,
    errors: IO[bytes],
) -> Namespace:
    mine = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        pasta = read_stat(pasta_pid)
        if pasta is None or not pasta.alive:
            errors.seek(0)
            lines = [x for x in errors.read().decode(errors="replace").splitlines() if x]
            why = "; ".join(x for x in lines[-3:] if "syslog" not in x) or "it ended"
            raise StartFailed(f"pasta could not make a network namespace: {why}")
        holder = _holder(pasta_pid, mine)
        if holder is not None and _connected(holder.pid, host_ports):
            return Namespace(
                holder.pid, holder.start_time, pasta_pid, pasta.start_time, host_ports, handoff
            )
        if time.monotonic() > deadline:
            raise StartFailed("pasta did not connect the network namespace in time")
        time.sleep(pause)
        pause = min(pause * 2, 0.02)


def _connected(pid: int, host_ports: tuple[int, ...]) -> bool:
    return has_default_route(pid) and all(listening(pid, port) for port in host_ports)


def _holder(pasta_pid: int, mine: str) -> ProcStat | None:
    """pasta's child, once it runs in the new namespace."""
    try:
        children = Path(f"/proc/{pasta_pid}/task/{pasta_pid}/children").read_text().split()
        for child in children:
            if os.readlink(f"/proc/{child}/ns/net") != mine:
                return read_stat(int(child))
    except OSError:
        pass
    return None
