"""Per-workload cgroups: memory and CPU limits, OOM detection, removal.

Found at run time: cgroup v2 (one unified hierarchy, ``memory.max`` and ``cpu.max``) or v1
(a hierarchy per controller, ``memory.limit_in_bytes`` and ``cpu.cfs_quota_us``), each
controller only where this process may create cgroups. A workload gets
``<the server's own cgroup>/lakeworks/<workload id>`` in every hierarchy used. Nesting under the
server's own cgroup keeps workloads inside whatever limits the server itself was given, and
matches delegation (systemd ``Delegate=yes``).

On v2 a controller can only be handed to children of a cgroup that holds no processes (the
"no internal processes" rule), so there ``lakeworks/`` may also go next to the server's own
cgroup, in its parent; where neither works, the executor falls back to ``RLIMIT_AS``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lakeworks.entities.workloads import Resources
from lakeworks.executors.base import StartFailed
from lakeworks.executors.processes import kill_all

CGROUP_FS = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")
PARENT = "lakeworks"
CPU_PERIOD_US = 100_000
MIB = 1024 * 1024

# The files that say whether a controller works in a (v1) hierarchy, with a harmless value
# ("no limit") a probe writes to prove it may.
_V1_PROBES = {"memory": ("memory.limit_in_bytes", "-1"), "cpu": ("cpu.cfs_quota_us", "-1")}
_V2_PROBES = {"memory": ("memory.max", "max"), "cpu": ("cpu.max", "max")}


@dataclass(frozen=True)
class Cgroups:
    """Where workload cgroups may be created: controller name -> parent directory."""

    version: int
    parents: dict[str, Path]

    @property
    def label(self) -> str:
        return f"cgroup v{self.version}"

    @classmethod
    def detect(cls, root: Path = CGROUP_FS, self_cgroup: Path = SELF_CGROUP) -> Cgroups | None:
        """The usable controllers under the cgroup filesystem at ``root``, or ``None``."""
        try:
            own = _own_paths(self_cgroup.read_text())
        except OSError:
            return None
        if (root / "cgroup.controllers").is_file():
            base = _under(root, own.get("", "/"))
            # The server's own cgroup, else its parent: with delegation the server often sits
            # in a leaf of its delegated cgroup (systemd's DelegateSubgroup=), and only a
            # cgroup without processes may hand controllers to children.
            for candidate in (base, base.parent) if base != root else (base,):
                parents = _prepare_v2(candidate)
                if parents:
                    return cls(2, parents)
            return None
        parents = {}
        for controller in ("memory", "cpu"):
            mount = root / controller
            if (mount / "cgroup.procs").is_file():
                parent = _prepare_v1(_under(mount, own.get(controller, "/")), controller)
                if parent is not None:
                    parents[controller] = parent
        return cls(1, parents) if parents else None

    def create(self, workload_id: str, resources: Resources) -> list[Path]:
        """Make the workload's cgroups with its limits; ``StartFailed`` if the kernel refuses."""
        name = _safe_name(workload_id)
        paths: list[Path] = []
        try:
            for controller, parent in self.parents.items():
                path = parent / name
                if path not in paths:
                    path.mkdir(exist_ok=True)
                    paths.append(path)
                _write_limit(path, self.version, controller, resources)
        except OSError as exc:
            remove(paths)
            raise StartFailed(f"the workload's cgroup was refused: {exc}") from exc
        return paths


def join(paths: Iterable[Path], pid: int) -> None:
    for path in paths:
        (path / "cgroup.procs").write_text(str(pid))


def members(paths: Iterable[Path]) -> set[int]:
    pids: set[int] = set()
    for path in paths:
        try:
            pids.update(int(line) for line in (path / "cgroup.procs").read_text().split())
        except OSError:  # already removed
            continue
    return pids


def oom_killed(paths: Iterable[Path]) -> bool:
    """Whether the kernel's OOM killer ended a process of these cgroups (v2 or v1 counter)."""
    for path in paths:
        for counters in ("memory.events", "memory.oom_control"):
            try:
                text = (path / counters).read_text()
            except OSError:
                continue
            found = re.search(r"^oom_kill (\d+)$", text, re.MULTILINE)
            if found and int(found.group(1)) > 0:
                return True
    return False


def remove(paths: Iterable[Path], timeout: float = 2.0) -> bool:
    """Kill what still runs in the cgroups, then remove them; ``False`` if they stay busy."""
    left = [path for path in paths if path.is_dir()]
    deadline = time.monotonic() + timeout
    while left:
        for path in left:
            with contextlib.suppress(OSError):  # v2 from Linux 5.14: kills atomically
                (path / "cgroup.kill").write_text("1")
        kill_all(members(left), signal.SIGKILL)
        for path in list(left):
            try:
                path.rmdir()
            except FileNotFoundError:
                pass
            except OSError:  # EBUSY until the killed processes have exited
                continue
            left.remove(path)
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    return not left


def _write_limit(path: Path, version: int, controller: str, resources: Resources) -> None:
    if controller == "memory" and resources.memory_mb > 0:
        limit = str(resources.memory_mb * MIB)
        if version == 2:
            (path / "memory.max").write_text(limit)
            _write_optional(path / "memory.swap.max", "0")
        else:
            (path / "memory.limit_in_bytes").write_text(limit)
            # memory+swap must not be below memory alone, so it is written second.
            _write_optional(path / "memory.memsw.limit_in_bytes", limit)
    elif controller == "cpu" and resources.cpu > 0:
        quota = max(1000, round(resources.cpu * CPU_PERIOD_US))
        if version == 2:
            (path / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
        else:
            (path / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (path / "cpu.cfs_quota_us").write_text(str(quota))
        # Its share when CPUs are contended: as many ordinary processes as vCPUs it has.
        write_cpu_weight(path, version, resources.cpu)


def write_cpu_weight(path: Path, version: int, cpus: float) -> None:
    """Weigh cgroup ``path`` like ``cpus`` busy ordinary processes when the CPUs are
    contended (v1 ``cpu.shares``, 1024 a process; v2 ``cpu.weight``, 100 a process).

    The kernel weighs a cgroup as ONE process by default, whatever it holds. For
    ``lakeworks/`` that meant every workload together got the share of a single thread of
    the server: on a busy machine (the gateway under load, other processes) a model replica
    got a fraction of a CPU and requests queued behind it. Best effort: a kernel or
    delegation that refuses the file leaves the default.
    """
    if version == 2:
        _write_optional(path / "cpu.weight", str(min(10_000, max(1, round(100 * cpus)))))
    else:
        _write_optional(path / "cpu.shares", str(min(262_144, max(2, round(1024 * cpus)))))


def _write_optional(path: Path, value: str) -> None:
    """Swap limits exist only with swap accounting; without it there is no swap to limit."""
    with contextlib.suppress(OSError):
        path.write_text(value)


def _own_paths(text: str) -> dict[str, str]:
    """Controller -> this process's cgroup path; ``""`` names the v2 hierarchy."""
    own = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    return own


def _under(mount: Path, own: str) -> Path:
    # Without a cgroup namespace the path may name a directory the mount does not show.
    base = mount / own.lstrip("/")
    return base if base.is_dir() else mount


def _prepare_v1(base: Path, controller: str) -> Path | None:
    probe_file, value = _V1_PROBES[controller]
    parent = base / PARENT
    try:
        parent.mkdir(exist_ok=True)
        _probe(parent, probe_file, value)
    except OSError:
        return None
    if controller == "cpu":
        write_cpu_weight(parent, 1, os.cpu_count() or 1)
    return parent


def _prepare_v2(base: Path) -> dict[str, Path]:
    try:
        available = (base / "cgroup.controllers").read_text().split()
        enabled = (base / "cgroup.subtree_control").read_text().split()
    except OSError:
        return {}
    parent = base / PARENT
    usable = {}
    for controller in ("memory", "cpu"):
        if controller not in available:
            continue
        try:
            if controller not in enabled:
                (base / "cgroup.subtree_control").write_text(f"+{controller}")
            parent.mkdir(exist_ok=True)
            (parent / "cgroup.subtree_control").write_text(f"+{controller}")
            _probe(parent, *_V2_PROBES[controller])
        except OSError:  # EBUSY: the server's cgroup holds processes; EACCES: not delegated
            continue
        if controller == "cpu":
            write_cpu_weight(parent, 2, os.cpu_count() or 1)
        usable[controller] = parent
    return usable


def _probe(parent: Path, probe_file: str, value: str) -> None:
    probe = parent / f".probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        (probe / probe_file).write_text(value)
    finally:
        probe.rmdir()


def _safe_name(workload_id: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", workload_id)
    if name.strip(".") == "":
        raise StartFailed(f"workload id {workload_id!r} cannot name a cgroup")
    return name
