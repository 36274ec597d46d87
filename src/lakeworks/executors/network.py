"""Network isolation: each sandboxed workload in a network namespace of its own, joined to the
machine by ``pasta`` (Debian's ``passt``).

Without it, every workload shares the machine's loopback: any job could call another
person's app, model replica or JupyterLab on ``127.0.0.1:<port>``, bypassing the proxy's
sign-in and the gateway's access keys. With it (``LAKEWORKS_SANDBOX_NETWORK=isolated``):

- bwrap gives the workload a new network namespace (``--unshare-net``), with its own
  loopback on which it binds its ports as before;
- the executor then attaches a ``pasta`` process to that namespace, which
  - listens on the machine's ``127.0.0.1:<port>`` for each of the workload's ports and
    passes connections on to the namespace's loopback (``-t``): the proxy and the gateway
    reach the workload at the same address as without isolation;
  - passes the namespace's ``127.0.0.1:<port>`` on to the machine's loopback only for the
    server's own port and the ports a site allows (``-T``; ``LAKEWORKS_SANDBOX_HOST_PORTS``,
    e.g. a local PostgreSQL);
  - gives the namespace an outside interface with the machine's addresses and routes, so
    workloads reach the internet, the package index and remote databases (pasta translates
    their connections into its own sockets); ``--no-map-gw`` keeps the gateway address from
    leading back to the machine's loopback.
  So a workload's ``127.0.0.1`` is its own: another workload's ports and the server's
  internal listeners on the machine's loopback are out of reach.
- the workload's first command inside waits (at most ``ATTACH_TIMEOUT``) until pasta has
  configured the interface, so its first connection does not fail.

pasta holds the namespace open, so it never notices the workload ended (a namespace named
by ``/proc/<pid>/ns/net`` is not "filesystem-bound"): ``attach`` returns its pid and the
executor ends it with the workload (it leaked one ~30 MiB process per workload before).
A server running as root keeps pasta root (``--runas 0:0``: joining a namespace owned by
the machine needs it); pasta confines itself after setting up (its own namespaces, a seccomp
filter, no capabilities).

Because pasta accepts connections on a workload's ports before the workload listens, "the
port accepts a connection" no longer means "the workload is ready": ``listening`` reads the
namespace's socket table instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from lakeworks.executors.base import StartFailed
from lakeworks.executors.processes import read_stat

ATTACH_TIMEOUT = 10.0
PASTA_TIMEOUT = 10.0
LOOPBACK = "127.0.0.1"
# Run first inside the sandbox: wait until pasta configured a default route (a line with
# destination 00000000 in /proc/net/route) and listens on the namespace's side of every port
# of the machine the workload may reach (-T: a LISTEN line for the port in /proc/net/tcp*;
# under load pasta may open those after the route), then run the workload (argv follows).
_WAIT_FOR = (
    'i=0; while ! {{ {ready}; }}; do i=$((i+1)); [ "$i" -gt {most} ] && break; '
    'sleep 0.01; done; exec "$@"'
)
_ROUTE_READY = "grep -q '\t00000000\t' /proc/net/route 2>/dev/null"
_PORT_READY = "grep -qE ':{port:04X} [0-9A-F]+:0000 0A' /proc/net/tcp /proc/net/tcp6 2>/dev/null"


def wait_for_network(host_ports: list[int] | tuple[int, ...] = ()) -> str:
    """The shell line the workload's argv is handed to (see ``_WAIT_FOR``)."""
    ready = [_ROUTE_READY, *(_PORT_READY.format(port=p) for p in sorted(set(host_ports)))]
    return _WAIT_FOR.format(ready=" && ".join(ready), most=int(ATTACH_TIMEOUT * 100))


_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def find_pasta() -> tuple[str | None, str]:
    """``(path to pasta, "")`` or ``(None, why not)``."""
    pasta = shutil.which("pasta")
    if pasta is None:
        return None, "pasta (Debian package passt) is not installed"
    return pasta, ""


def bwrap_options() -> list[str]:
    return ["--unshare-net"]


def inner_prefix(host_ports: list[int] | tuple[int, ...] = ()) -> list[str]:
    """The command the workload's argv is handed to inside the sandbox: it waits for the
    network pasta connects, with ``host_ports`` of the machine reachable."""
    return ["/bin/sh", "-c", wait_for_network(host_ports), "lakeworks-network"]


def join_prefix(pid: int) -> list[str]:
    """The command that runs the rest of a command line in the network namespace of ``pid``
    (a worker joining its parent's, compat §12). A root server joins the namespace alone
    (it belongs to the machine's user namespace); otherwise the namespace belongs to the
    parent's bwrap user namespace, which must be joined too."""
    nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
    if os.geteuid() == 0:
        return [nsenter, f"--net=/proc/{pid}/ns/net", "--"]
    return [nsenter, "--preserve-credentials", "-U", "-n", "-t", str(pid), "--"]


def namespace_address(pid: int) -> str:
    """The IPv4 address pasta gave the network namespace of ``pid`` (the machine's own
    address, copied), or "" when it has none but loopback: read from the namespace's
    ``fib_trie``, whose local host routes list the interface addresses."""
    try:
        lines = Path(f"/proc/{pid}/net/fib_trie").read_text().splitlines()
    except OSError:
        return ""
    previous = ""
    for line in lines:
        text = line.strip()
        if text.startswith("|--"):
            previous = text[3:].strip()
        elif text == "/32 host LOCAL" and previous and not previous.startswith("127."):
            return previous
    return ""


def namespace_pid(outer_pid: int, timeout: float = ATTACH_TIMEOUT) -> int:
    """The pid of bwrap's process inside the new namespaces (the child of ``outer_pid``),
    once it set the sandbox up and started the workload's first command: before, it may not
    be open to pasta (which keeps few capabilities), and its namespaces may still change."""
    mine = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        for child in _children(outer_pid):
            try:
                if os.readlink(f"/proc/{child}/ns/net") != mine and _children(child):
                    return child
            except OSError:
                continue
        if time.monotonic() > deadline or read_stat(outer_pid) is None:
            raise StartFailed("the sandbox's network namespace did not appear")
        time.sleep(pause)
        pause = min(pause * 2, 0.02)


def attach(pasta: str, pid: int, ports: list[int], host_ports: list[int]) -> int:
    """Connect the network namespace of ``pid`` to the machine (see the module docstring);
    returns the pid of the pasta process, which the executor ends with the workload."""
    with tempfile.TemporaryDirectory(prefix="lakeworks-pasta-") as scratch:
        pid_file = Path(scratch) / "pasta.pid"
        _attach(pasta, pid, ports, host_ports, pid_file)
        try:
            return int(pid_file.read_text().strip())
        except (OSError, ValueError) as exc:
            raise StartFailed(f"pasta left no pid file: {exc}") from exc


def _attach(pasta: str, pid: int, ports: list[int], host_ports: list[int], pid_file: Path) -> None:
    argv = [pasta, "--quiet", "--config-net", "--no-map-gw", "-u", "none", "-U", "none"]
    argv += ["--pid", str(pid_file)]
    for port in ports:
        argv += ["-t", f"{LOOPBACK}/{port}"]
    argv += ["-T", ",".join(str(p) for p in sorted(set(host_ports))) if host_ports else "none"]
    if not ports:
        argv += ["-t", "none"]
    if os.geteuid() == 0:
        argv += ["--runas", "0:0", "--netns", f"/proc/{pid}/ns/net"]
    else:  # the namespace belongs to bwrap's user namespace: join both
        argv += [str(pid)]
    deadline = time.monotonic() + ATTACH_TIMEOUT
    pause = 0.005
    while True:
        try:
            done = subprocess.run(
                argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=PASTA_TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StartFailed(f"could not connect the workload's network: {exc}") from exc
        if done.returncode == 0:
            return
        lines = [
            line
            for line in done.stderr.decode(errors="replace").splitlines()
            if line and "syslog" not in line
        ]
        why = "; ".join(lines[-3:]) or f"pasta exit {done.returncode}"
        # pasta keeps too few capabilities to open the namespace of a process that is not
        # "dumpable", which bwrap's first process is for moments while it sets up: try again.
        transient = any("Couldn't open" in line for line in lines)
        if not transient or time.monotonic() > deadline or read_stat(pid) is None:
            raise StartFailed(f"could not connect the workload's network: {why}")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def has_default_route(pid: int) -> bool:
    """Whether pasta has configured the network namespace of ``pid`` (its default route)."""
    try:
        return "\t00000000\t" in Path(f"/proc/{pid}/net/route").read_text()
    except OSError:
        return False


def listening(pid: int, port: int) -> bool:
    """Whether a socket in the network namespace of ``pid`` listens on TCP ``port``."""
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            listens = len(fields) > 3 and fields[3] == _LISTEN
            if listens and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]
