"""Bubblewrap: the project at ``/home/cdsw``, the runtime read-only, a private ``/tmp``, an
unprivileged user and a minimal ``/etc``.

The sandbox sees the host's ``/usr``, ``/bin``, ``/lib*`` read-only, of ``/etc`` only what
programs need (``ETC_SHARED``: name resolution, TLS certificates, the dynamic linker's cache,
time zones...; never ``shadow``, ssh host keys or the server's own configuration) with a
``passwd``/``group`` of its own naming the workload user ``cdsw``, a fresh ``/proc`` and
``/dev``, and its own pid namespace (when the workload's main process ends, everything it left
behind inside ends with it; it cannot see, signal or read the environment of any process
outside).

Who the workload runs as (``Identity``): a server running as root starts bwrap privileged and
the workload drops to its *project's* uid (``project_uid``) with ``setpriv`` before it runs
anything, every capability gone and ``no_new_privs`` set, so no setuid program gives root back.
One uid per project, not per person: the project's files must stay writable by every later
session, job or app of the project, whoever starts it (``ownership.hand_over`` gives the
server's own writes to that uid). A server running as an ordinary user runs workloads as that
user (bwrap then works through a user namespace and cannot switch users).

bwrap's outer process (the one the executor starts) only waits for the sandbox and exits with
its status, ``128 + signal`` when the workload was killed by a signal. It does not forward
signals and dies of SIGTERM, so stopping a sandboxed workload signals the processes inside,
not bwrap itself (see ``LocalExecutor.stop``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROJECT_HOME = "/home/cdsw"
# Where a sandbox sees the server's directory of sockets for workloads (read-only).
SERVER_DIR = "/run/lakeworks"
WORKLOAD_USER = "cdsw"  # CML's engine user
HOST_READ_ONLY = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What workloads need of the host's /etc. Anything else there (shadow, sudoers, ssh keys,
# service configuration with credentials) stays out.
ETC_SHARED = (
    "hosts",
    "resolv.conf",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "services",
    "protocols",
    "networks",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "pki",
    "crypto-policies",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "alternatives",
    "mime.types",
    "magic",
    "magic.mime",
    "fonts",
    "os-release",
    "debian_version",
    "lsb-release",
    "bash.bashrc",
    "profile",
    "profile.d",
    "inputrc",
    "terminfo",
    "shells",
    "mtab",
    "locale.alias",
    "pip.conf",  # the site's package index
    "gitconfig",
    "wgetrc",
    "java-*",  # PySpark's JVM reads its configuration here (Debian)
    "python3*",
    "R",
)
# One expression for all of them: matching every name in /etc against each pattern with
# fnmatch was most of the cost of a sandbox's command line (~150 names by ~40 patterns).
_ETC_SHARED = re.compile("|".join(fnmatch.translate(p) for p in ETC_SHARED))
# The uids workloads of projects get when the server runs as root: far above the ranges
# distributions hand to people (1000+) and to rootless containers (100000+, /etc/subuid).
FIRST_PROJECT_UID = 1_000_000_000
PROJECT_UIDS = 1_000_000_000
PROBE_TIMEOUT = 10.0
# Capabilities bwrap keeps for setpriv, which needs them only to drop to the workload's uid
# and to empty the bounding set; they are gone before the workload's program runs.
_SWITCH_CAPS = "CAP_SETUID,CAP_SETGID,CAP_SETPCAP"


@dataclass(frozen=True)
class Identity:
    """The uid and gid a workload runs as; ``switch``: bwrap runs as root and setpriv drops to
    them inside (else they are the server's own)."""

    uid: int
    gid: int
    switch: bool


def project_uid(project_key: str) -> int:
    """The uid of a project's workloads: stable (the same after a restart, on every server of
    a cluster) without a table to keep. Two projects may share one by chance (about one pair
    in 2,000 among 1,000 projects); they still never see each other's files or processes,
    which the mount and pid namespaces keep apart."""
    digest = hashlib.sha256(project_key.encode()).digest()
    return FIRST_PROJECT_UID + int.from_bytes(digest[:8], "big") % PROJECT_UIDS


def identity_for(project_key: str) -> Identity:
    """Who the workloads of the project known as ``project_key`` (its directory) run as."""
    if os.geteuid() == 0:
        uid = project_uid(project_key)
        return Identity(uid, uid, switch=True)
    return Identity(os.getuid(), os.getgid(), switch=False)


def write_etc(state_dir: Path, identity: Identity) -> Path:
    """A directory with the ``passwd`` and ``group`` the workload sees (written once)."""
    directory = state_dir / "etc" / str(identity.uid)
    passwd = directory / "passwd"
    if passwd.is_file():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    users = (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"{WORKLOAD_USER}:x:{identity.uid}:{identity.gid}:{WORKLOAD_USER}:{PROJECT_HOME}:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    groups = f"root:x:0:\n{WORKLOAD_USER}:x:{identity.gid}:\nnogroup:x:65534:\n"
    for name, text in (("group", groups), ("passwd", users)):  # passwd last: the marker
        # A partial file of this writer's own: two workloads of one project starting at once
        # both write (the same text); with one shared name, the second found it moved away.
        fd, partial_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".new", dir=directory)
        partial = Path(partial_name)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            partial.chmod(0o644)
            partial.replace(directory / name)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return directory


def bwrap_argv(
    bwrap: str,
    project_dir: Path,
    read_only: Iterable[Path],
    identity: Identity,
    etc_dir: Path,
    *,
    setpriv: str = "",
    network: Iterable[str] = (),
    read_write: Iterable[Path] = (),
    server_dir: Path | None = None,
) -> list[str]:
    """The bwrap command line up to the workload's argv (which follows it).

    Deliberately without ``--new-session`` (the sandbox stays in the workload's process group,
    which ``stop`` signals) and without ``--die-with-parent`` (workloads outlive the server).
    ``network``: extra bwrap options (``--unshare-net``) from the network isolation.
    ``read_write``: folders outside the project mounted writable at their own path (the
    project's Iceberg warehouse), so paths written in files there mean the same outside.
    ``server_dir``: the server's directory seen read-only at ``SERVER_DIR`` (its sockets for
    workloads: connecting needs no write access to the mount).
    """
    read_write = list(read_write)
    argv = [bwrap, "--unshare-pid", "--unshare-ipc", *network]
    for host_path in HOST_READ_ONLY:
        if os.path.islink(host_path):  # merged /usr: /bin -> usr/bin
            argv += ["--symlink", os.readlink(host_path), host_path]
        elif os.path.isdir(host_path):
            argv += ["--ro-bind", host_path, host_path]
    argv += _etc(etc_dir)
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm"]
    targets = [PROJECT_HOME, *(str(p) for p in read_only), *(str(p) for p in read_write)]
    if server_dir is not None:
        targets.append(SERVER_DIR)
    argv += _parents(targets)
    if server_dir is not None:
        argv += ["--ro-bind", str(server_dir), SERVER_DIR]
    argv += ["--bind", str(project_dir), PROJECT_HOME]
    for path in read_write:
        argv += ["--bind", str(path), str(path)]
    # After the project: a runtime inside the project directory stays read-only.
    seen = set()
    for path in read_only:
        if str(path) not in seen:
            seen.add(str(path))
            argv += ["--ro-bind", str(path), str(path)]
    argv += ["--chdir", PROJECT_HOME]
    if not identity.switch:
        return [*argv, "--"]
    argv += ["--cap-add", _SWITCH_CAPS, "--"]
    return [
        *argv,
        setpriv,
        f"--reuid={identity.uid}",
        f"--regid={identity.gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def _etc(etc_dir: Path) -> list[str]:
    argv = ["--perms", "0755", "--dir", "/etc"]
    try:
        names = sorted(os.listdir("/etc"))
    except OSError:
        names = []
    for name in names:
        if name in ("passwd", "group") or not _ETC_SHARED.match(name):
            continue
        host_path = f"/etc/{name}"
        if os.path.islink(host_path):
            argv += ["--symlink", os.readlink(host_path), host_path]
            real = os.path.realpath(host_path)
            if not real.startswith(("/etc/", "/usr/", "/proc/")) and os.path.exists(real):
                argv += _parents([real])  # e.g. systemd-resolved's stub under /run
                argv += ["--ro-bind", real, real]
        elif os.path.exists(host_path):
            argv += ["--ro-bind", host_path, host_path]
    argv += ["--ro-bind", str(etc_dir / "passwd"), "/etc/passwd"]
    argv += ["--ro-bind", str(etc_dir / "group"), "/etc/group"]
    return argv


def _parents(targets: Iterable[str]) -> list[str]:
    """Directories above mount points, made world-readable: bwrap would create them for the
    sandbox's root user only, and the workload's user could not reach what is mounted there."""
    made: list[str] = []
    for target in targets:
        parent = os.path.dirname(target.rstrip("/"))
        chain = []
        while parent not in ("", "/") and parent not in made:
            chain.append(parent)
            parent = os.path.dirname(parent)
        made += reversed(chain)
    known = {"/usr", "/etc", "/proc", "/dev"}
    argv: list[str] = []
    for directory in made:
        if directory not in known and not any(directory.startswith(k + "/") for k in known):
            argv += ["--perms", "0755", "--dir", directory]
    return argv


def find_bwrap(state_dir: Path) -> tuple[str | None, str, str]:
    """``(path to a working bwrap, path to setpriv, "")`` or ``(None, "", why not)``.

    bwrap may be installed yet unable to work (inside a container without user namespaces or
    mount rights), so it is tried once, the way workloads use it, on a throwaway project
    directory under ``state_dir``.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None, "", "bwrap is not installed"
    setpriv = ""
    if os.geteuid() == 0:
        found = shutil.which("setpriv")
        # Run inside the sandbox, where only the system's directories are mounted.
        setpriv = os.path.realpath(found) if found else ""
        if not setpriv:
            return None, "", "setpriv (util-linux) is not installed: workloads cannot leave root"
    # Probed once per executor (``LocalExecutor.__init__``), whose platform keeps it: the answer
    # does not change while the server runs, and a test's fresh platform probes afresh.
    failure = _probe(bwrap, setpriv, state_dir)
    return (None, "", failure) if failure else (bwrap, setpriv, "")


def _probe(bwrap: str, setpriv: str, state_dir: Path) -> str | None:
    from lakeworks.executors.ownership import hand_over

    scratch = state_dir / "bwrap-probe"
    scratch.mkdir(parents=True, exist_ok=True)
    identity = identity_for("lakeworks-probe")
    hand_over(scratch, identity)
    marker = scratch / "probe"
    marker.unlink(missing_ok=True)
    etc_dir = write_etc(state_dir, identity)
    script = f"id -u > {PROJECT_HOME}/probe"
    command = [*bwrap_argv(bwrap, scratch, [], identity, etc_dir, setpriv=setpriv)]
    command += ["/bin/sh", "-c", script]
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PROBE_TIMEOUT,
            env={"PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to run: {exc}"
    if done.returncode != 0 or not marker.is_file():
        message = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
        return f"bwrap does not work here: {message}"
    seen = marker.read_text().strip()
    marker.unlink()
    if seen != str(identity.uid):
        return f"bwrap ran the workload as uid {seen}, not {identity.uid}"
    return None
