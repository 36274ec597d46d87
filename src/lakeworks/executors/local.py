"""The ``local`` executor: every workload is a process group (a session) on this machine.

How a workload starts: the server spawns a small *gate* (``/bin/sh`` running ``_GATE``) in
a new session, with stdout and stderr appended to the workload's log and every other
descriptor it could inherit closed by the spawn itself. While the gate waits on a pipe, the
server puts it into the workload's cgroups (or sets its ``RLIMIT_AS``); only then does the
gate close the pipe, enter the project directory and ``exec`` the workload, through
bubblewrap when that works here. So no workload code runs before its limits apply, and
nothing runs between fork and exec in the (threaded) server. (The gate was a Python
interpreter before: a shell starts in ~2 ms where Python took 20 ms, and 60-85 ms on a busy
machine, on the way to every workload's first line.)

Mechanisms, each chosen at run time:

- sandbox: bubblewrap (see ``sandbox``) when installed and working, as the project's own
  unprivileged uid when the server is root; else (only when no sandbox is required) a plain
  process in the project directory as the server's user, with HOME there as well.
- network: with ``isolate_network``, a namespace per sandboxed workload joined by pasta
  (see ``network``); one made ahead by the pool (``netpool``) where one is ready and fits;
  else the machine's.
- memory: a cgroup (v2 or v1, see ``cgroups``); else ``RLIMIT_AS``. A cgroup reports an OOM
  kill exactly. Under ``RLIMIT_AS`` allocations fail instead, so an exit is taken for out of
  memory when the process died of SIGKILL or SIGSEGV (not sent by ``stop``) or the log's tail
  shows ``MemoryError`` -- a heuristic.
- CPU: a cgroup quota (``cpu.max`` / ``cpu.cfs_quota_us``); none without cgroups.

A workload ends when its first process (the group leader) does; whatever it left running in
its group or cgroup is then killed (as in a container, whose processes end with its first).

``poll`` reaps exited children with ``waitpid(WNOHANG)``; no SIGCHLD handler is installed, so
an ended workload stays a zombie until the next ``poll`` (the reconciler polls every second).
Processes adopted after a restart are not this process's children: they are watched by pid
and start time, and their exit code cannot be known.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import resource
import shutil
import signal
import socket
import threading
import time
from collections import OrderedDict
from pathlib import Path

from lakeworks.entities.workloads import ExitInfo, WorkloadSpec
from lakeworks.executors import cgroups, netpool, network, ownership, sandbox
from lakeworks.executors.base import Executor, Handle, StartFailed
from lakeworks.executors.cgroups import CGROUP_FS, Cgroups
from lakeworks.executors.ports import HOST, PortPool
from lakeworks.executors.processes import exit_code, group_members, kill_all, read_stat
from lakeworks.executors.sandbox import PROJECT_HOME, Identity

log = logging.getLogger(__name__)

LOG_CHUNK = 1024 * 1024
OOM_LOG_TAIL = 64 * 1024
KILL_WAIT = 5.0
REMEMBERED_EXITS = 10_000
UNKNOWN_EXIT = "exit code unknown: the process ended while the server was down or not its parent"
MIB = 1024 * 1024

GATE_FD = 3
SOCKET_FD = 4  # a workload's own Unix socket (``WorkloadSpec.socket``), listening
SOCKET_BACKLOG = 1024
# The gate's program (``sh -c _GATE lakeworks-gate <project dir> <argv...>``): wait for the
# server's "go" on descriptor 3 (end-of-file instead: the server gave up, run nothing), close
# it, enter the project directory, become the workload.
_GATE = """\
IFS= read -r go <&3 || exit 125
[ "$go" = go ] || exit 125
exec 3<&-
cd -- "$1" || exit 126
shift
exec "$@"
"""
GATE_SHELL = "/bin/sh"
# Signals the server may ignore (under nohup, say) that a workload must not inherit ignored.
# (glibc's posix_spawn leaves its two internal signals, 32 and 33, ignored in the child; the
# C libraries and Go install their own handlers for them at start-up, so that goes unnoticed.)
_DEFAULT_SIGNALS = (
    signal.SIGPIPE,  # Python ignores these two in the server
    signal.SIGXFSZ,
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGALRM,
    signal.SIGCHLD,
)


class LocalExecutor(Executor):
    """Workloads as process groups on this machine; see the module docstring.

    ``state_dir`` holds the executor's scratch files. ``use_bwrap``: ``None`` uses bubblewrap
    when it works, ``True`` insists on it (``StartFailed`` here if it cannot work), ``False``
    never uses it. ``require_sandbox`` (with ``None``): where bubblewrap cannot work, refuse
    every ``start`` with the reason (``refusal``) instead of running unsandboxed; workloads
    started earlier are still watched, stopped and adopted. ``isolate_network`` (with a
    sandbox): a network namespace per workload, ``host_ports`` of the machine's loopback
    reachable from it; without pasta, every ``start`` is refused. ``network_pool``: with
    ``isolate_network``, how many namespaces to keep connected ahead for workloads without
    ports of their own (see ``netpool``; ``close`` ends them). ``server_dir``: a directory of
    the server's that every sandbox sees read-only at ``sandbox.SERVER_DIR`` (the model
    gateway's socket, ``serving.local_socket``). ``cgroup_root`` is where the
    cgroup filesystem is mounted (default ``/sys/fs/cgroup``); a directory without cgroups
    there turns cgroup limits off.

    The environment a workload gets is ``spec.env``, then, overriding it, each port under its
    name in ``spec.ports``, ``HOME`` and ``PWD`` (the project as the workload sees it) and
    ``LAKEWORKS_SANDBOX`` (``bwrap`` or ``none``), and, for a spec with a ``socket``, that
    variable: the descriptor (``SOCKET_FD``) of a Unix socket listening at a path in
    ``state_dir/sockets`` (the server's, seen by no sandbox: the workload can neither replace
    it nor reach another workload's), which ``socket_path(handle)`` names for the server to
    connect to and which is removed when the workload ends. Variables that name paths inside
    the project must be built by the caller *before* ``start``: make the spec without them, ask
    ``project_home(spec)``, then add them (``dataclasses.replace(spec, env=...)``).
    """

    name = "local"

    def __init__(
        self,
        state_dir: Path,
        port_range: tuple[int, int] = (20000, 29999),
        use_bwrap: bool | None = None,
        cgroup_root: Path | None = None,
        require_sandbox: bool = False,
        isolate_network: bool = False,
        host_ports: tuple[int, ...] = (),
        network_pool: int = 0,
        server_dir: Path | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self._server_dir = server_dir
        if server_dir is not None:  # made now, so that binding it never fails a start
            server_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._sockets = self.state_dir / "sockets"
        self._sockets_fd = -1  # opened on first use (``_sockets_dir``), closed by ``close``
        self._ports = PortPool(*port_range)
        self._bwrap: str | None = None
        self._setpriv = ""
        # Why no workload may start here ("" when they may): the sandbox was required and
        # cannot work. Workloads already running are still watched and stopped.
        self.refusal = ""
        if use_bwrap is not False:
            self._bwrap, self._setpriv, why_not = sandbox.find_bwrap(self.state_dir / "sandbox")
            if self._bwrap is None and use_bwrap:
                raise StartFailed(f"bubblewrap was asked for but cannot be used: {why_not}")
            if self._bwrap is None and require_sandbox:
                self.refusal = (
                    f"workloads must run in a sandbox and bubblewrap cannot be used here "
                    f"({why_not}); install bubblewrap, or set LAKEWORKS_SANDBOX=none to run "
                    "workloads unsandboxed (single-user machines only)"
                )
                log.error("no workload will start: %s", self.refusal)
            elif self._bwrap is None:
                log.info("workloads run without a sandbox: %s", why_not)
        self._pasta: str | None = None
        self._host_ports = tuple(host_ports)
        if isolate_network and self._bwrap:
            self._pasta, why_not = network.find_pasta()
            if self._pasta is None:
                self.refusal = (
                    f"workloads must run in a network namespace of their own and {why_not}; "
                    "install it, or set LAKEWORKS_SANDBOX_NETWORK=shared"
                )
                log.error("no workload will start: %s", self.refusal)
        self._pool: netpool.NamespacePool | None = None
        if self._pasta and network_pool > 0:
            why_not = netpool.usable()
            if why_not:
                log.info("no network namespaces are made ahead: %s", why_not)
            else:
                self._pool = netpool.NamespacePool(self._pasta, network_pool)
        self._cgroups = Cgroups.detect(cgroup_root or CGROUP_FS)
        self._lock = threading.Lock()
        self._exits: OrderedDict[tuple[int, int], ExitInfo] = OrderedDict()
        self._stopping: set[tuple[int, int]] = set()
        self._stripes = [threading.Lock() for _ in range(64)]
        self._settled = ownership.Settled()  # what the last hand-over per project found
        log.info(
            "local executor: sandbox %s, memory limits by %s, CPU limits by %s",
            self.sandbox,
            self.memory_limits,
            self.cpu_limits,
        )

    @property
    def sandbox(self) -> str:
        """``"bwrap"`` or ``"none"``."""
        return "bwrap" if self._bwrap else "none"

    @property
    def memory_limits(self) -> str:
        """``"cgroup v1"``, ``"cgroup v2"`` or ``"rlimit"``."""
        if self._cgroups and "memory" in self._cgroups.parents:
            return self._cgroups.label
        return "rlimit"

    @property
    def cpu_limits(self) -> str:
        """``"cgroup v1"``, ``"cgroup v2"`` or ``"none"``."""
        if self._cgroups and "cpu" in self._cgroups.parents:
            return self._cgroups.label
        return "none"

    @property
    def network_pool(self) -> netpool.NamespacePool | None:
        """The namespaces made ahead (``None`` when none are: see ``network_pool=``)."""
        return self._pool

    def project_home(self, spec: WorkloadSpec) -> str:
        """The project directory as the workload sees it (its working directory and HOME)."""
        return PROJECT_HOME if self._bwrap else str(spec.project_dir)

    # -- the contract ---------------------------------------------------------------------

    def identity(self, spec: WorkloadSpec) -> Identity | None:
        """Who the workload runs as inside the sandbox (``None``: no sandbox, the server's
        own user). One uid per project directory; see ``sandbox``."""
        if not self._bwrap:
            return None
        return sandbox.identity_for(str(spec.project_dir))

    def start(self, spec: WorkloadSpec) -> Handle:
        if self.refusal:
            raise StartFailed(self.refusal)
        read_only = [p for p in (spec.runtime_dir, *spec.extra_ro_binds) if p is not None]
        self._validate(spec, read_only)
        identity = self.identity(spec)
        ports = self._ports.acquire(len(spec.ports))
        cgroup_paths: list[Path] = []
        pooled: netpool.Namespace | None = None
        listener: socket.socket | None = None
        try:
            listener = self._listen(spec)
            if self._cgroups:
                cgroup_paths = self._cgroups.create(spec.workload_id, spec.resources)
            rlimit = 0
            if self.memory_limits == "rlimit" and spec.resources.memory_mb > 0:
                rlimit = spec.resources.memory_mb * MIB
            joined = self._joined_namespace(spec)
            pooled = self._pooled_namespace(spec, joined, identity)
            command = self._command(spec, read_only, identity, joined, pooled)
            env = self._environment(spec, ports)
            pid, start_time = _spawn(spec, command, env, cgroup_paths, rlimit, listener)
        except BaseException:
            if pooled is not None:
                netpool.end(pooled)
            cgroups.remove(cgroup_paths)
            self._ports.release(ports)
            self._unlink_socket(spec)
            raise
        finally:
            if listener is not None:
                listener.close()  # the workload has its own copy
        netns: Handle = {}
        if joined:
            netns = {
                "netns_pid": joined["netns_pid"],
                "netns_start_time": joined["netns_start_time"],
            }
        elif pooled is not None:
            netns = _pooled_handle(pooled)
        elif self._pasta:
            netns = self._connect(pid, start_time, ports, spec.host_ports, cgroup_paths)
        return {
            "executor": self.name,
            "workload_id": spec.workload_id,
            "pid": pid,
            "pgid": pid,
            "start_time": start_time,
            "log_path": str(spec.log_path),
            "sandbox": self.sandbox,
            "uid": identity.uid if identity else os.getuid(),
            "cgroups": [str(path) for path in cgroup_paths],
            "memory_limit": "rlimit" if rlimit else self._limit_kind("memory", cgroup_paths),
            "memory_mb": spec.resources.memory_mb,
            "cpu_limit": self._limit_kind("cpu", cgroup_paths),
            # A list, not a mapping: JSON columns (PostgreSQL's jsonb) do not keep key order,
            # and the first port is the workload's address.
            "ports": ports,
            "port_names": list(spec.ports),
            **({"socket": str(self._sockets / _socket_name(spec.workload_id))} if listener else {}),
            **netns,
        }

    def poll(self, handle: Handle) -> ExitInfo | None:
        return self._settle(handle)

    def stop(self, handle: Handle, grace: float = 10.0) -> None:
        """SIGTERM to the workload's processes; SIGKILL to all if the leader outlives ``grace``.

        The workload ends with its leader, and what the leader leaves running is killed then:
        a wrapper (a shell running the real program) must wait for its child rather than die
        of SIGTERM at once, or the child loses its grace period.
        """
        if self._settle(handle) is not None:
            return
        with self._lock:
            self._stopping.add(_key(handle))
        self._terminate(handle)
        if self._wait(handle, grace) is None:
            self._kill(handle)
            if self._wait(handle, KILL_WAIT) is None:  # stuck in the kernel (state D)
                log.warning("workload %s survived SIGKILL for %ss", handle["pid"], KILL_WAIT)

    def logs(self, handle: Handle, offset: int = 0) -> tuple[bytes, int]:
        offset = max(offset, 0)
        try:
            with open(handle["log_path"], "rb") as f:
                f.seek(offset)
                data = f.read(LOG_CHUNK)
        except FileNotFoundError:
            return b"", offset
        return data, offset + len(data)

    def listening(self, handle: Handle, port: int) -> bool:
        """With network isolation, whether a socket in the workload's namespace listens
        (pasta accepts on the machine's side before the workload does)."""
        pid, start_time = handle.get("netns_pid"), handle.get("netns_start_time")
        if pid is None:
            return super().listening(handle, port)
        stat = read_stat(int(pid))
        if stat is None or stat.start_time != start_time:
            return False
        return network.listening(int(pid), port)

    def ip_address(self, handle: Handle) -> str:
        """Under network isolation, the address pasta gave the workload's namespace (which
        its workers share); else the machine's loopback, shared by every workload."""
        pid = handle.get("netns_pid")
        if pid is None:
            return super().ip_address(handle)
        return network.namespace_address(int(pid)) or "127.0.0.1"

    def address(self, handle: Handle) -> str:
        ports = handle.get("ports") or []
        return f"{HOST}:{ports[0]}" if ports else ""

    def socket_path(self, handle: Handle) -> str:
        """Where this process connects to the workload's Unix socket (through the sockets
        directory's descriptor), or "" when it has none."""
        name = self._own_socket(handle)
        if not name:
            return ""
        try:
            return f"/proc/self/fd/{self._sockets_dir()}/{name}"
        except OSError:
            return ""

    def _own_socket(self, handle: Handle) -> str:
        """The name of the handle's socket in this executor's sockets directory, or ""."""
        path = Path(handle.get("socket") or "")
        return path.name if path.name and path.parent == self._sockets else ""

    def _sockets_dir(self) -> int:
        """A descriptor of the sockets directory (made 0700 if missing), held until ``close``:
        sockets are bound and connected to through it, however long the data directory's
        path (a socket address has 108 bytes)."""
        with self._lock:
            if self._sockets_fd < 0:
                self._sockets.mkdir(mode=0o700, exist_ok=True)
                self._sockets.chmod(0o700)
                flags = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
                self._sockets_fd = os.open(self._sockets, flags)
            return self._sockets_fd

    def _listen(self, spec: WorkloadSpec) -> socket.socket | None:
        """For a spec with a ``socket``, a Unix socket listening at the workload's path in the
        sockets directory."""
        if not spec.socket:
            return None
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            name = _socket_name(spec.workload_id)
            self._remove_socket(name)  # a stale one of the same workload id
            listener.bind(f"/proc/self/fd/{self._sockets_dir()}/{name}")
            listener.listen(SOCKET_BACKLOG)
        except OSError as exc:
            listener.close()
            raise StartFailed(f"could not make the workload's socket: {exc}") from exc
        return listener

    def _unlink_socket(self, spec: WorkloadSpec) -> None:
        if spec.socket:
            self._remove_socket(_socket_name(spec.workload_id))

    def _remove_socket(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self._sockets_dir())

    def prepare_network(self, host_ports: tuple[int, ...] = (), timeout: float = 0.0) -> bool:
        """Have namespaces made ahead for workloads that may also reach ``host_ports`` (a
        spec's); wait up to ``timeout`` seconds until they are ready. Whether they are
        (``False`` without a pool: see ``network_pool``)."""
        if self._pool is None:
            return False
        return self._pool.prepare([*self._host_ports, *host_ports], timeout)

    def close(self) -> None:
        """End the network namespaces made ahead and not taken (workloads keep theirs)."""
        if self._pool is not None:
            self._pool.close()
        with self._lock:
            fd, self._sockets_fd = self._sockets_fd, -1
        if fd >= 0:
            os.close(fd)

    def adopt(self, handle: Handle) -> bool:
        # An ended workload is settled here: what it left behind is killed, its cgroup freed.
        if self._settle(handle) is not None:
            return False
        self._ports.hold(handle.get("ports") or [])
        return True

    # -- starting -------------------------------------------------------------------------

    def _validate(self, spec: WorkloadSpec, read_only: list[Path]) -> None:
        """Refuse, with a reason, what could only fail after the start."""
        if not spec.argv:
            raise StartFailed("the workload has no command")
        if not spec.project_dir.is_dir():
            raise StartFailed(f"the project directory {spec.project_dir} does not exist")
        for path in (*read_only, *spec.extra_rw_binds):
            if not path.exists():
                raise StartFailed(f"{path} (to be mounted in the workload) does not exist")
        program = spec.argv[0]
        search = [self._host_path(spec, p) for p in spec.env.get("PATH", os.defpath).split(":")]
        if "/" in program:
            found = self._host_path(spec, program)
            runnable = os.path.isfile(found) and os.access(found, os.X_OK)
        else:
            runnable = shutil.which(program, path=os.pathsep.join(search)) is not None
        if not runnable:
            raise StartFailed(f"cannot run {program!r}: no such executable program")

    def _joined_namespace(self, spec: WorkloadSpec) -> dict[str, int]:
        """For a worker under network isolation, the parent's namespace to join (its pid and
        start time, which the worker's handle keeps for ``listening``); else ``{}``.

        The worker joins it rather than getting one of its own, so parent and workers reach
        each other on any port (compat §12) while other workloads still cannot; the parent's
        pasta keeps serving the namespace, and the worker's end leaves it alone."""
        parent = spec.network_of
        if parent is None or not self._pasta:
            return {}
        pid, start_time = parent.get("netns_pid"), parent.get("netns_start_time")
        if pid is None:
            raise StartFailed("the parent workload has no network namespace to join")
        stat = read_stat(int(pid))
        if stat is None or not stat.alive or stat.start_time != start_time:
            raise StartFailed("the parent workload has ended")
        return {"netns_pid": int(pid), "netns_start_time": int(stat.start_time)}

    def _pooled_namespace(
        self, spec: WorkloadSpec, joined: dict[str, int], identity: Identity | None
    ) -> netpool.Namespace | None:
        """A namespace made ahead for a sandboxed workload without ports of its own (they
        are forwarded when pasta starts) that joins no parent's; ``None``: connect one after
        the start, as usual."""
        if self._pool is None or joined or spec.ports or not (self._bwrap and identity):
            return None
        return self._pool.take([*self._host_ports, *spec.host_ports])

    def _command(
        self,
        spec: WorkloadSpec,
        read_only: list[Path],
        identity: Identity | None,
        joined: dict[str, int],
        pooled: netpool.Namespace | None,
    ) -> list[str]:
        """The command the gate runs: the workload's argv in the sandbox, which first joins
        the network namespace it shares (a parent's) or was given (the pool's)."""
        command = list(spec.argv)
        netns_pid = joined.get("netns_pid") or (pooled.holder_pid if pooled else 0)
        if self._bwrap and identity:
            own_network = bool(self._pasta) and not netns_pid
            command = self._sandboxed(spec, read_only, identity, own_network) + command
        if netns_pid:
            command = network.join_prefix(netns_pid) + command
        return command

    def _sandboxed(
        self,
        spec: WorkloadSpec,
        read_only: list[Path],
        identity: Identity,
        own_network: bool = False,
    ) -> list[str]:
        """The sandbox's command line, once the project belongs to the workload's user;
        ``own_network``: in a new network namespace, pasta connecting it after the start."""
        assert self._bwrap
        try:
            ownership.hand_over(spec.project_dir, identity, self._settled)
            for path in spec.extra_rw_binds:
                ownership.hand_over(path, identity, self._settled)
            etc_dir = sandbox.write_etc(self.state_dir / "sandbox", identity)
        except OSError as exc:
            raise StartFailed(f"could not prepare the sandbox: {exc}") from exc
        argv = sandbox.bwrap_argv(
            self._bwrap,
            spec.project_dir,
            read_only,
            identity,
            etc_dir,
            setpriv=self._setpriv,
            network=network.bwrap_options() if own_network else (),
            read_write=spec.extra_rw_binds,
            server_dir=self._server_dir,
        )
        if not own_network:
            return argv
        return argv + network.inner_prefix([*self._host_ports, *spec.host_ports])

    def _connect(
        self,
        pid: int,
        start_time: int,
        ports: list[int],
        host_ports: list[int],
        cgroup_paths: list[Path],
    ) -> Handle:
        """Attach pasta to the new workload's network namespace; on failure end the workload
        (it has not run anything yet: it waits for the network) and raise ``StartFailed``."""
        assert self._pasta
        pasta: Handle = {}
        try:
            inner = network.namespace_pid(pid)
            inner_stat = read_stat(inner)
            allowed = [*self._host_ports, *host_ports]
            pasta_pid = network.attach(self._pasta, inner, ports, allowed)
            pasta_stat = read_stat(pasta_pid)
            if pasta_stat is not None:
                pasta = {"pasta_pid": pasta_pid, "pasta_start_time": pasta_stat.start_time}
            if inner_stat is None:
                raise StartFailed("the workload ended while its network was connected")
        except (StartFailed, OSError) as exc:
            _end_network(pasta)
            cgroup_list = [str(p) for p in cgroup_paths]
            self._kill({"pid": pid, "pgid": pid, "start_time": start_time, "cgroups": cgroup_list})
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            cgroups.remove(cgroup_paths)
            self._ports.release(ports)
            raise StartFailed(str(exc)) from exc
        return {"netns_pid": inner, "netns_start_time": inner_stat.start_time, **pasta}

    def _host_path(self, spec: WorkloadSpec, path: str) -> str:
        """Where a path the workload names lies on this machine (for checks before start)."""
        home = self.project_home(spec)
        if path == home or path.startswith(home + "/"):
            return str(spec.project_dir) + path[len(home) :]
        return path if path.startswith("/") else str(spec.project_dir / path)

    def _environment(self, spec: WorkloadSpec, ports: list[int]) -> dict[str, str]:
        env = dict(spec.env)
        env.update({name: str(port) for name, port in zip(spec.ports, ports, strict=True)})
        home = self.project_home(spec)
        env.update(HOME=home, PWD=home, LAKEWORKS_SANDBOX=self.sandbox)
        if spec.socket:
            env[spec.socket] = str(SOCKET_FD)
        return env

    def _limit_kind(self, controller: str, paths: list[Path]) -> str:
        if not self._cgroups or controller not in self._cgroups.parents or not paths:
            return "none"
        return "cgroup"

    # -- watching and ending --------------------------------------------------------------

    def _settle(self, handle: Handle) -> ExitInfo | None:
        """``None`` while the workload runs; once it ended, record that (once) and clean up.

        Observing and recording are one step per handle, so a ``stop`` in one thread and a
        ``poll`` in another cannot both reap the leader and disagree about its exit.
        """
        key = _key(handle)
        with self._stripes[hash(key) % len(self._stripes)]:
            with self._lock:
                known = self._exits.get(key)
            if known is not None:
                return known
            info = self._observe(handle)
            return None if info is None else self._finish(handle, info)

    def _observe(self, handle: Handle) -> ExitInfo | None:
        """``None`` while the leader runs, else how it ended (reaping it if it is ours)."""
        pid, start_time = _key(handle)
        stat = read_stat(pid)
        if stat is None or stat.start_time != start_time:
            return self._exit_info(handle, None)
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # adopted: started by the server before a restart
            return None if stat.alive else self._exit_info(handle, None)
        if reaped == 0:
            return None
        code = exit_code(status)
        if handle.get("sandbox") == "bwrap" and 128 < code <= 128 + 64:
            code = 128 - code  # bwrap passes "killed by signal N" on as exit code 128 + N
        return self._exit_info(handle, code)

    def _exit_info(self, handle: Handle, code: int | None) -> ExitInfo:
        """``code`` is ``None`` when the exit was not seen (not our child, or gone)."""
        stopped = _key(handle) in self._stopping
        if self._oom(handle, code, stopped):
            limit = f"out of memory: limit {handle.get('memory_mb', 0)} MiB"
            return ExitInfo(-1 if code is None else code, oom=True, reason=limit)
        if stopped:
            return ExitInfo(-1 if code is None else code, reason="stopped")
        if code is None:
            return ExitInfo(-1, reason=UNKNOWN_EXIT)
        return ExitInfo(code, reason=_describe(code))

    def _oom(self, handle: Handle, code: int | None, stopped: bool) -> bool:
        kind = handle.get("memory_limit")
        if kind == "cgroup":
            return cgroups.oom_killed(Path(p) for p in handle.get("cgroups", []))
        if kind != "rlimit":
            return False
        if code == 0:
            return False
        if code in (-signal.SIGKILL, -signal.SIGSEGV) and not stopped:
            return True
        return b"MemoryError" in _tail(Path(handle["log_path"]), OOM_LOG_TAIL)

    def _terminate(self, handle: Handle) -> None:
        pid, start_time = _key(handle)
        if handle.get("sandbox") == "bwrap":
            # bwrap itself would die of SIGTERM without passing it on, and its exit would
            # look like the workload's: signal the sandbox's processes, bwrap follows them.
            inside = [p for p in group_members(int(handle["pgid"]), start_time) if p != pid]
            kill_all(inside or [pid], signal.SIGTERM)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(handle["pgid"]), signal.SIGTERM)

    def _kill(self, handle: Handle) -> None:
        """SIGKILL to the workload's process group and everything in its cgroups."""
        pgid, start_time = int(handle["pgid"]), int(handle["start_time"])
        tree = set(cgroups.members(Path(p) for p in handle.get("cgroups", [])))
        leader = read_stat(pgid)
        # While any member lives the kernel keeps the group's number from being handed to a
        # new process; a different process under that pid means our group is gone and the
        # number now names a stranger's.
        if leader is None or leader.start_time == start_time:
            tree.update(group_members(pgid, start_time))
        kill_all(tree, signal.SIGKILL)

    def _wait(self, handle: Handle, seconds: float) -> ExitInfo | None:
        deadline = time.monotonic() + seconds
        pause = 0.005
        while (info := self._settle(handle)) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)
        return info

    def _finish(self, handle: Handle, info: ExitInfo) -> ExitInfo:
        """Record the exit; kill what the workload left behind; free its cgroups and ports."""
        key = _key(handle)
        self._kill(handle)
        _end_network(handle)
        paths = [Path(p) for p in handle.get("cgroups", [])]
        if not cgroups.remove(paths):
            log.warning("cgroups %s of an ended workload stay busy", paths)
        self._ports.release(handle.get("ports") or [])
        if socket_name := self._own_socket(handle):
            self._remove_socket(socket_name)
        with self._lock:
            self._stopping.discard(key)
            self._exits[key] = info
            while len(self._exits) > REMEMBERED_EXITS:
                self._exits.popitem(last=False)
        return info


def _end_network(handle: Handle) -> None:
    """End the pasta process that connected an ended workload's network namespace (it holds
    the namespace open and would run forever) and the namespace's holder when the workload
    had one from the pool; nothing where a pid now names another process."""
    holder, holder_start = handle.get("holder_pid"), handle.get("holder_start_time")
    if holder is not None and holder_start is not None:
        pasta, pasta_start = handle.get("pasta_pid", 0), handle.get("pasta_start_time", 0)
        netpool.end_processes(int(holder), int(holder_start), int(pasta), int(pasta_start))
        return
    pid, start_time = handle.get("pasta_pid"), handle.get("pasta_start_time")
    if pid is None:
        return
    stat = read_stat(int(pid))
    if stat is not None and stat.start_time == start_time:
        kill_all([int(pid)], signal.SIGTERM)


def _pooled_handle(namespace: netpool.Namespace) -> Handle:
    """What a workload's handle keeps of the pool's namespace it runs in: the holder names
    the namespace (for ``listening``, ``ip_address`` and workers joining it) and ends with
    the workload, as its pasta does."""
    return {
        "netns_pid": namespace.holder_pid,
        "netns_start_time": namespace.holder_start_time,
        "holder_pid": namespace.holder_pid,
        "holder_start_time": namespace.holder_start_time,
        "pasta_pid": namespace.pasta_pid,
        "pasta_start_time": namespace.pasta_start_time,
    }


def _spawn(
    spec: WorkloadSpec,
    command: list[str],
    env: dict[str, str],
    cgroup_paths: list[Path],
    rlimit: int,
    listener: socket.socket | None = None,
) -> tuple[int, int]:
    """Start the gate for ``command``, apply the limits, open the gate: ``(pid, start time)``.
    ``listener``: given to the workload as descriptor ``SOCKET_FD``."""
    try:
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_fd = _high_fd(os.open(spec.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640))
    except OSError as exc:
        raise StartFailed(f"cannot write the workload's log {spec.log_path}: {exc}") from exc
    gate_read, gate_write = os.pipe()
    socket_fd = -1
    try:
        gate_read = _high_fd(gate_read)
        keep: tuple[int, ...] = (log_fd, gate_read)
        socket_actions = []
        if listener is not None:  # DUP2 clears close-on-exec on the copy
            socket_fd = _high_fd(os.dup(listener.fileno()))
            keep += (socket_fd,)
            socket_actions = [(os.POSIX_SPAWN_DUP2, socket_fd, SOCKET_FD)]
        pid = os.posix_spawn(
            GATE_SHELL,
            [GATE_SHELL, "-c", _GATE, "lakeworks-gate", str(spec.project_dir), *command],
            env,
            file_actions=[
                *_close_inherited(keep=keep),
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log_fd, 1),
                (os.POSIX_SPAWN_DUP2, log_fd, 2),
                (os.POSIX_SPAWN_DUP2, gate_read, GATE_FD),
                *socket_actions,
            ],
            setsid=True,
            setsigmask=(),
            setsigdef=_DEFAULT_SIGNALS,
        )
    except OSError as exc:
        os.close(gate_write)
        raise StartFailed(f"could not start the workload: {exc}") from exc
    finally:
        os.close(log_fd)
        os.close(gate_read)
        if socket_fd >= 0:
            os.close(socket_fd)
    try:
        stat = read_stat(pid)
        if stat is None:  # the gate waits for us; only an outside kill gets here
            raise OSError("the workload's process vanished at start")
        cgroups.join(cgroup_paths, pid)
        if rlimit:
            resource.prlimit(pid, resource.RLIMIT_AS, (rlimit, rlimit))
        os.write(gate_write, b"go\n")
    except OSError as exc:
        os.close(gate_write)  # the gate reads end-of-file and exits without running anything
        os.waitpid(pid, 0)
        raise StartFailed(f"could not apply the workload's limits: {exc}") from exc
    os.close(gate_write)
    return pid, stat.start_time


def _socket_name(workload_id: str) -> str:
    return f"{workload_id}.sock"


def _close_inherited(keep: tuple[int, ...]) -> list[tuple[int, int]]:
    """Spawn actions closing every descriptor above 2 the gate would inherit (those without
    close-on-exec: Python opens none so, but a C library or a caller may have), ``keep``
    aside (close-on-exec themselves, duplicated onto 1-3 by the spawn)."""
    actions = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2 or fd in keep:
            continue
        try:
            inheritable = os.get_inheritable(fd)
        except OSError:
            continue  # the listing's own descriptor, or one closed meanwhile
        if inheritable:
            actions.append((os.POSIX_SPAWN_CLOSE, fd))
    return actions


def _high_fd(fd: int) -> int:
    """A close-on-exec copy of ``fd`` numbered 10 or above, ``fd`` itself closed.

    The spawn maps descriptors onto 0-3; one that is already 0-3 (a daemon's closed stdio
    reused) could map onto itself and keep its close-on-exec flag.
    """
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


def _key(handle: Handle) -> tuple[int, int]:
    return int(handle["pid"]), int(handle["start_time"])


def _describe(code: int) -> str:
    if code == 0:
        return ""
    if code > 0:
        return f"exited with code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


def _tail(path: Path, size: int) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(max(f.seek(0, os.SEEK_END) - size, 0))
            return f.read()
    except OSError:
        return b""
