"""Bubblewrap: the project at ``/home/cdsw``, the runtime read-only, a private ``/tmp``.

The sandbox sees the host's ``/usr``, ``/bin``, ``/lib*`` and ``/etc`` read-only, a fresh
``/proc`` and ``/dev``, and its own pid namespace (when the workload's main process ends,
everything it left behind inside ends with it). The network is shared: workloads listen on
127.0.0.1 ports that the platform proxies.

bwrap's outer process (the one the executor starts) only waits for the sandbox and exits with
its status, ``128 + signal`` when the workload was killed by a signal. It does not forward
signals and dies of SIGTERM, so stopping a sandboxed workload signals the processes inside,
not bwrap itself (see ``LocalExecutor.stop``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

PROJECT_HOME = "/home/cdsw"
HOST_READ_ONLY = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
PROBE_TIMEOUT = 10.0

# bwrap path -> None when it works here, else why not: probing costs a few milliseconds but
# the answer does not change while the server runs.
_probed: dict[str, str | None] = {}


def bwrap_argv(bwrap: str, project_dir: Path, read_only: Iterable[Path]) -> list[str]:
    """The bwrap command line up to ``--``; the workload's argv follows it.

    Deliberately without ``--new-session`` (the sandbox stays in the workload's process group,
    which ``stop`` signals) and without ``--die-with-parent`` (workloads outlive the server).
    """
    argv = [bwrap, "--unshare-pid"]
    for host_path in HOST_READ_ONLY:
        if os.path.islink(host_path):  # merged /usr: /bin -> usr/bin
            argv += ["--symlink", os.readlink(host_path), host_path]
        elif os.path.isdir(host_path):
            argv += ["--ro-bind", host_path, host_path]
    resolv = os.path.realpath("/etc/resolv.conf")
    if not resolv.startswith("/etc/") and os.path.isfile(resolv):
        argv += ["--ro-bind", resolv, resolv]  # e.g. systemd-resolved's stub under /run
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    argv += ["--bind", str(project_dir), PROJECT_HOME]
    # After the project: a runtime inside the project directory stays read-only.
    seen = set()
    for path in read_only:
        if str(path) not in seen:
            seen.add(str(path))
            argv += ["--ro-bind", str(path), str(path)]
    return [*argv, "--chdir", PROJECT_HOME, "--"]


def find_bwrap(scratch: Path) -> tuple[str | None, str]:
    """``(path to a working bwrap, "")`` or ``(None, why not)``.

    bwrap may be installed yet unable to work (inside a container without user namespaces or
    mount rights), so it is tried once on a throwaway project directory ``scratch``.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None, "bwrap is not installed"
    if bwrap not in _probed:
        _probed[bwrap] = _probe(bwrap, scratch)
    failure = _probed[bwrap]
    return (None, failure) if failure else (bwrap, "")


def _probe(bwrap: str, scratch: Path) -> str | None:
    scratch.mkdir(parents=True, exist_ok=True)
    marker = scratch / "probe"
    marker.unlink(missing_ok=True)
    command = [*bwrap_argv(bwrap, scratch, []), "/bin/sh", "-c", f"echo ok > {PROJECT_HOME}/probe"]
    try:
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to run: {exc}"
    if done.returncode != 0 or not marker.is_file():
        message = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
        return f"bwrap does not work here: {message}"
    marker.unlink()
    return None
