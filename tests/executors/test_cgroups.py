"""Cgroup detection and bookkeeping (the limits themselves are tested in test_local)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeworks.entities.workloads import Resources
from lakeworks.executors import cgroups
from lakeworks.executors.base import StartFailed
from lakeworks.executors.cgroups import Cgroups


def test_own_cgroups_are_read_for_v1_and_v2() -> None:
    text = "4:memory:/box/a\n3:cpu,cpuacct:/box/b\n1:name=systemd:/\n0::/unified/c\n"

    own = cgroups._own_paths(text)

    assert own["memory"] == "/box/a"
    assert own["cpu"] == own["cpuacct"] == "/box/b"
    assert own[""] == "/unified/c"


def test_no_cgroup_filesystem_means_no_cgroups(tmp_path: Path) -> None:
    assert Cgroups.detect(tmp_path) is None
    assert Cgroups.detect(Path("/sys/fs/cgroup"), self_cgroup=tmp_path / "missing") is None


def test_oom_kills_are_read_from_the_v1_and_v2_counters(tmp_path: Path) -> None:
    v1, v2, quiet = tmp_path / "v1", tmp_path / "v2", tmp_path / "quiet"
    for path in (v1, v2, quiet):
        path.mkdir()
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 2\n")
    (quiet / "memory.events").write_text("max 3\noom 0\noom_kill 0\n")

    assert cgroups.oom_killed([v1])
    assert cgroups.oom_killed([quiet, v2])
    assert not cgroups.oom_killed([quiet, tmp_path / "gone"])


def test_a_workload_id_that_cannot_name_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StartFailed, match="cannot name a cgroup"):
        Cgroups(1, {"memory": tmp_path}).create("..", Resources())


def test_removing_missing_cgroups_is_a_no_op(tmp_path: Path) -> None:
    assert cgroups.remove([tmp_path / "never-made"])
    assert cgroups.members([tmp_path / "never-made"]) == set()


@pytest.mark.parametrize(
    ("version", "name", "one_cpu"), [(1, "cpu.shares", 1024), (2, "cpu.weight", 100)]
)
def test_a_workload_cgroup_weighs_as_many_processes_as_its_vcpus(
    tmp_path: Path, version: int, name: str, one_cpu: int
) -> None:
    """Without a weight, the kernel gives a cgroup the share of one process when CPUs are
    contended, however many vCPUs the workload has (and all workloads, under ``lakeworks/``,
    the share of one)."""
    parent = tmp_path / "lakeworks"
    parent.mkdir()
    paths = Cgroups(version, {"cpu": parent}).create("w1", Resources(cpu=2.0, memory_mb=0))
    assert int((paths[0] / name).read_text()) == 2 * one_cpu

    cgroups.write_cpu_weight(parent, version, 8)
    assert int((parent / name).read_text()) == 8 * one_cpu
