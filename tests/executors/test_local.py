"""The local executor's lifecycle with real processes: exits, logs, stop, limits, ports."""

from __future__ import annotations

import json
import os
import random
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.executors.support import TrackingExecutor, wait_exit, wait_log

from lakeworks.entities.workloads import ExitInfo, Resources, WorkloadSpec
from lakeworks.executors.base import StartFailed
from lakeworks.executors.processes import read_stat

SpecFactory = Callable[..., WorkloadSpec]

# Waits (at most 10 s) until the test creates the file ``go`` in the project directory.
WAIT_FOR_GO = """
import os, time
deadline = time.time() + 10
while not os.path.exists("go") and time.time() < deadline:
    time.sleep(0.01)
"""


def _processes_with_argument(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker.encode() in argv:
                found.append(int(entry.name))
    return found


def test_exit_codes_are_reported_and_remembered(
    executor: TrackingExecutor, make_spec: SpecFactory
) -> None:
    ok = executor.start(make_spec("print('fine')"))
    failed = executor.start(make_spec("import sys; sys.exit(3)"))

    assert wait_exit(executor, ok) == ExitInfo(0)
    info = wait_exit(executor, failed)
    assert (info.code, info.oom) == (3, False)
    assert "3" in info.reason
    assert executor.poll(failed) == info
    assert executor.logs(ok)[0] == b"fine\n"


def test_a_signal_death_reads_as_minus_the_signal(
    executor: TrackingExecutor, make_spec: SpecFactory
) -> None:
    handle = executor.start(make_spec("import os, signal; os.kill(os.getpid(), signal.SIGUSR1)"))

    info = wait_exit(executor, handle)

    assert info.code == -10
    assert "SIGUSR1" in info.reason


def test_ended_workloads_are_reaped(
    plain_executor: TrackingExecutor, make_spec: SpecFactory
) -> None:
    handle = plain_executor.start(make_spec("pass"))

    wait_exit(plain_executor, handle)

    stat = read_stat(handle["pid"])
    assert stat is None or stat.start_time != handle["start_time"], "left a zombie"


def test_logs_are_readable_while_running(
    executor: TrackingExecutor, make_spec: SpecFactory, project: Path
) -> None:
    code = "import sys\nprint('first')\nprint('to stderr', file=sys.stderr)\n"
    code += WAIT_FOR_GO + "print('second')\n"
    handle = executor.start(make_spec(code))

    wait_log(executor, handle, "to stderr")
    data, offset = executor.logs(handle)
    assert executor.poll(handle) is None
    assert data == b"first\nto stderr\n"
    (project / "go").touch()
    assert wait_exit(executor, handle) == ExitInfo(0)

    assert executor.logs(handle, offset) == (b"second\n", offset + 7)
    assert executor.logs(handle, offset + 7) == (b"", offset + 7)


def test_logs_are_read_a_mebibyte_at_a_time(
    plain_executor: TrackingExecutor, make_spec: SpecFactory
) -> None:
    handle = plain_executor.start(make_spec("import sys; sys.stdout.write('x' * 1_500_000)"))
    wait_exit(plain_executor, handle)

    first, offset = plain_executor.logs(handle)
    rest, end = plain_executor.logs(handle, offset)

    assert (len(first), len(rest), end) == (1024 * 1024, 1_500_000 - 1024 * 1024, 1_500_000)


def test_environment_home_and_working_directory(
    executor: TrackingExecutor, make_spec: SpecFactory
) -> None:
    code = "import json, os; print(json.dumps([os.getcwd(), dict(os.environ)]))"
    spec = make_spec(code, env={"PATH": os.environ["PATH"], "CDSW_PROJECT": "demo", "HOME": "/x"})
    handle = executor.start(spec)

    assert wait_exit(executor, handle) == ExitInfo(0)
    cwd, env = json.loads(executor.logs(handle)[0])

    assert cwd == env["HOME"] == executor.project_home(spec)
    assert env["CDSW_PROJECT"] == "demo"
    assert env["LAKEWORKS_SANDBOX"] == executor.sandbox
    assert "LAKEWORKS_TEST" not in env, "only the spec's environment reaches the workload"


def test_stop_lets_a_workload_end_cleanly(
    executor: TrackingExecutor, make_spec: SpecFactory
) -> None:
    # os.write, not print: see test_a_wrapper_that_waits_gives_its_child_the_grace_period.
    code = """
import os, signal, sys, time
def end(signum, frame):
    os.write(1, b"cleaned up\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, end)
os.write(1, b"ready\\n")
time.sleep(30)
"""
    handle = executor.start(make_spec(code))
    wait_log(executor, handle, "ready")

    began = time.monotonic()
    executor.stop(handle, grace=10)

    assert time.monotonic() - began < 5
    assert executor.poll(handle) == ExitInfo(0, reason="stopped")
    assert "cleaned up" in executor.logs(handle)[0].decode()


def test_stop_kills_what_ignores_sigterm(
    executor: TrackingExecutor, make_spec: SpecFactory
) -> None:
    code = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(30)
"""
    handle = executor.start(make_spec(code))
    wait_log(executor, handle, "ready")

    began = time.monotonic()
    executor.stop(handle, grace=0.3)

    assert 0.3 <= time.monotonic() - began < 5
    assert executor.poll(handle) == ExitInfo(-9, reason="stopped")
    executor.stop(handle, grace=0.3)  # idempotent
    assert executor.poll(handle) == ExitInfo(-9, reason="stopped")


def test_stop_takes_the_children_too(executor: TrackingExecutor, make_spec: SpecFactory) -> None:
    marker = f"{1000 + random.random():.6f}"
    code = f"""
import subprocess, time
subprocess.Popen(["sleep", "{marker}"])
print("spawned", flush=True)
time.sleep(30)
"""
    handle = executor.start(make_spec(code))
    wait_log(executor, handle, "spawned")
    assert _processes_with_argument(marker)

    executor.stop(handle, grace=2)

    assert executor.poll(handle) is not None
    assert _processes_with_argument(marker) == []


def test_what_a_workload_leaves_running_ends_with_it(
    executor: TrackingExecutor, make_spec: SpecFactory
) -> None:
    marker = f"{1000 + random.random():.6f}"
    code = f"import subprocess; subprocess.Popen(['sleep', '{marker}']); print('spawned')"
    handle = executor.start(make_spec(code))

    assert wait_exit(executor, handle) == ExitInfo(0)

    assert _processes_with_argument(marker) == []


ALLOCATE_600_MB = """
print("allocating", flush=True)
block = b"x" * (600 * 1024 * 1024)
print("survived", flush=True)
"""


def test_over_the_memory_limit_is_killed_as_oom(
    executor: TrackingExecutor, make_spec: SpecFactory
) -> None:
    spec = make_spec(ALLOCATE_600_MB, resources=Resources(cpu=1.0, memory_mb=200))
    handle = executor.start(spec)

    info = wait_exit(executor, handle)

    assert info.oom, (info, executor.memory_limits)
    assert info.reason == "out of memory: limit 200 MiB"
    assert "survived" not in executor.logs(handle)[0].decode()


def test_without_cgroups_memory_is_limited_by_rlimit(
    make_executor: Callable[..., TrackingExecutor], make_spec: SpecFactory, tmp_path: Path
) -> None:
    executor = make_executor(use_bwrap=False, cgroup_root=tmp_path / "no-cgroups")
    assert (executor.memory_limits, executor.cpu_limits) == ("rlimit", "none")
    handle = executor.start(make_spec(ALLOCATE_600_MB, resources=Resources(memory_mb=200)))

    info = wait_exit(executor, handle)

    assert info.oom
    assert info.reason == "out of memory: limit 200 MiB"
    assert handle["cgroups"] == []
    fine = executor.start(
        make_spec("b = b'x' * (50 * 1024 * 1024)", resources=Resources(memory_mb=200))
    )
    assert wait_exit(executor, fine) == ExitInfo(0)


def test_cgroup_limits_are_written_and_removed(
    plain_executor: TrackingExecutor, make_spec: SpecFactory
) -> None:
    memory, cpu = plain_executor.memory_limits, plain_executor.cpu_limits
    if "cgroup" not in memory + cpu:
        pytest.skip("no writable cgroup on this machine")
    spec = make_spec("import time; time.sleep(30)", resources=Resources(cpu=0.5, memory_mb=300))
    handle = plain_executor.start(spec)
    paths = [Path(p) for p in handle["cgroups"]]

    def value(name: str) -> str:
        (found,) = [path / name for path in paths if (path / name).exists()]
        return found.read_text().strip()

    if cpu == "cgroup v2":
        assert value("cpu.max") == "50000 100000"
    elif cpu == "cgroup v1":
        assert (value("cpu.cfs_quota_us"), value("cpu.cfs_period_us")) == ("50000", "100000")
    if memory == "cgroup v2":
        assert value("memory.max") == str(300 * 1024 * 1024)
    elif memory == "cgroup v1":
        assert value("memory.limit_in_bytes") == str(300 * 1024 * 1024)
    for path in paths:
        assert str(handle["pid"]) in (path / "cgroup.procs").read_text().split()

    plain_executor.stop(handle, grace=1)
    assert plain_executor.poll(handle) is not None
    assert not any(path.exists() for path in paths)


def test_ports_are_unique_and_in_the_environment(
    make_executor: Callable[..., TrackingExecutor], make_spec: SpecFactory, project: Path
) -> None:
    executor = make_executor(port_range=(24000, 24099))
    code = (
        """
import json, os, socket
listener = socket.socket()
listener.bind(("127.0.0.1", int(os.environ["CDSW_APP_PORT"])))
print(json.dumps([os.environ["CDSW_APP_PORT"], os.environ["CDSW_READONLY_PORT"]]), flush=True)
"""
        + WAIT_FOR_GO
    )
    names = ["CDSW_APP_PORT", "CDSW_READONLY_PORT"]
    first = executor.start(make_spec(code, ports=names))
    second = executor.start(make_spec(code, ports=names))

    seen = []
    for handle in (first, second):
        env_ports = json.loads(wait_log(executor, handle, "]"))
        assert [int(p) for p in env_ports] == handle["ports"]
        assert executor.address(handle) == f"127.0.0.1:{env_ports[0]}"
        seen += handle["ports"]
    assert len(set(seen)) == 4
    assert all(24000 <= port <= 24099 for port in seen)
    (project / "go").touch()
    assert wait_exit(executor, first) == wait_exit(executor, second) == ExitInfo(0)
    assert executor.address(executor.start(make_spec("pass"))) == ""


# A workload's own Unix socket (``WorkloadSpec.socket``; model replicas: the gateway's way in).
SOCKET_WORKLOAD = """
import os, socket, sys
listener = socket.socket(fileno=int(os.environ["MY_SOCKET_FD"]))
accepting = listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
print("fd", os.environ["MY_SOCKET_FD"], "accepting", accepting, flush=True)
print("sees the sockets directory", os.path.exists(sys.argv[1]), flush=True)
connection, _ = listener.accept()
connection.sendall(b"uid %d" % os.getuid())
connection.close()
"""


def test_a_workload_gets_a_listening_unix_socket_at_a_path_it_cannot_see(
    executor: TrackingExecutor, make_spec: SpecFactory, tmp_path: Path
) -> None:
    sockets = tmp_path / "state" / "sockets"
    argv = [sys.executable, "-u", "-c", SOCKET_WORKLOAD, str(sockets)]
    handle = executor.start(make_spec(argv=argv, socket="MY_SOCKET_FD"))
    log = wait_log(executor, handle, "sees the sockets directory")

    assert "fd 4 accepting 1" in log
    # Sandboxed, the server's directory is out of sight (nothing there to replace, no other
    # workload's socket to reach); unsandboxed, the workload is the server's user anyway.
    assert f"sees the sockets directory {executor.sandbox == 'none'}" in log
    assert handle["socket"] == str(sockets / f"{handle['workload_id']}.sock")
    assert stat.S_ISSOCK(os.stat(handle["socket"]).st_mode)
    assert stat.S_IMODE(sockets.stat().st_mode) == 0o700
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(executor.socket_path(handle))
        assert client.recv(100) == b"uid %d" % handle["uid"]
    assert wait_exit(executor, handle) == ExitInfo(0)
    assert not os.path.exists(handle["socket"]), "removed when the workload ended"
    assert executor.socket_path(executor.start(make_spec("pass"))) == ""


def test_a_socket_is_made_however_long_the_state_path_and_left_by_a_failed_start(
    make_executor: Callable[..., TrackingExecutor], make_spec: SpecFactory, tmp_path: Path
) -> None:
    state = tmp_path / ("long-" * 20) / "state"  # its sockets' paths exceed 108 bytes
    executor = make_executor(use_bwrap=False, state_dir=state)
    handle = executor.start(
        make_spec(argv=[sys.executable, "-c", SOCKET_WORKLOAD, "x"], socket="MY_SOCKET_FD")
    )
    assert len(handle["socket"]) > 108
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(executor.socket_path(handle))
        assert client.recv(100).startswith(b"uid ")
    assert wait_exit(executor, handle) == ExitInfo(0)

    (tmp_path / "a-file").touch()  # the log cannot be made under it: the spawn fails
    with pytest.raises(StartFailed, match="log"):
        executor.start(make_spec("pass", log_path=tmp_path / "a-file" / "w.log", socket="S"))
    assert os.listdir(state / "sockets") == []


def test_ports_are_held_until_the_workload_ends(
    make_executor: Callable[..., TrackingExecutor], make_spec: SpecFactory
) -> None:
    executor = make_executor(use_bwrap=False, port_range=(24100, 24101))
    sleeper = make_spec("import time; time.sleep(30)", ports=["A", "B"])
    holder = executor.start(sleeper)

    with pytest.raises(StartFailed, match="free ports"):
        executor.start(make_spec("pass", ports=["C"]))
    executor.stop(holder, grace=0)
    executor.poll(holder)
    again = executor.start(make_spec("pass", ports=["A", "B"]))

    assert sorted(again["ports"]) == [24100, 24101]


def test_what_cannot_start_says_why_and_holds_nothing(
    make_executor: Callable[..., TrackingExecutor], make_spec: SpecFactory, tmp_path: Path
) -> None:
    executor = make_executor(port_range=(24200, 24200))

    with pytest.raises(StartFailed, match="no-such-program"):
        executor.start(make_spec(argv=["no-such-program"], ports=["P"]))
    with pytest.raises(StartFailed, match="project directory"):
        executor.start(make_spec("pass", project_dir=tmp_path / "missing", ports=["P"]))
    with pytest.raises(StartFailed, match="does not exist"):
        executor.start(make_spec("pass", runtime_dir=tmp_path / "no-runtime", ports=["P"]))
    with pytest.raises(StartFailed, match="no command"):
        executor.start(make_spec(argv=[]))

    assert executor.start(make_spec("pass", ports=["P"]))["ports"] == [24200]


def test_a_restarted_server_adopts_running_workloads(
    make_executor: Callable[..., TrackingExecutor],
    make_spec: SpecFactory,
    project: Path,
    tmp_path: Path,
) -> None:
    """The first server is another process: its workloads are not the new server's children."""
    specs = [make_spec("import time; time.sleep(30)", ports=["P"]), make_spec(WAIT_FOR_GO)]
    script = tmp_path / "server.py"
    script.write_text(
        """
import json, sys
from pathlib import Path
from lakeworks.entities.workloads import Resources, WorkloadKind, WorkloadSpec
from lakeworks.executors.local import LocalExecutor

executor = LocalExecutor(Path(sys.argv[1]))
handles = []
for spec in json.loads(sys.argv[2]):
    spec.update(kind=WorkloadKind(spec["kind"]), resources=Resources(**spec["resources"]))
    for name in ("project_dir", "log_path", "runtime_dir"):
        spec[name] = Path(spec[name])
    spec["extra_ro_binds"] = [Path(p) for p in spec["extra_ro_binds"]]
    handles.append(executor.start(WorkloadSpec(**spec)))
print(json.dumps(handles))
"""
    )
    as_json = json.dumps([_spec_json(spec) for spec in specs])
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "state"), as_json],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    sleeper, waiter = json.loads(done.stdout)
    executor = make_executor()
    executor.started += [sleeper, waiter]

    assert executor.adopt(sleeper) and executor.adopt(waiter)
    assert executor.poll(sleeper) is None and executor.poll(waiter) is None
    assert executor.address(sleeper) == f"127.0.0.1:{sleeper['ports'][0]}"

    executor.stop(sleeper, grace=2)
    assert executor.poll(sleeper) == ExitInfo(-1, reason="stopped")
    (project / "go").touch()
    info = wait_exit(executor, waiter)
    assert (info.code, info.oom) == (-1, False)
    assert "exit code unknown" in info.reason
    assert not any(Path(p).exists() for p in sleeper["cgroups"] + waiter["cgroups"])


def _spec_json(spec: WorkloadSpec) -> dict[str, object]:
    return {
        "workload_id": spec.workload_id,
        "kind": spec.kind.value,
        "argv": spec.argv,
        "env": spec.env,
        "project_dir": str(spec.project_dir),
        "log_path": str(spec.log_path),
        "runtime_dir": str(spec.runtime_dir),
        "resources": {"cpu": spec.resources.cpu, "memory_mb": spec.resources.memory_mb},
        "ports": spec.ports,
        "extra_ro_binds": [str(p) for p in spec.extra_ro_binds],
    }


def test_adopt_refuses_a_reused_pid_and_a_dead_one(
    make_executor: Callable[..., TrackingExecutor], make_spec: SpecFactory
) -> None:
    first = make_executor(use_bwrap=False)
    sleeper = first.start(make_spec("import time; time.sleep(30)"))
    ended = first.start(make_spec("pass"))
    wait_exit(first, ended)
    second = make_executor(use_bwrap=False)

    recycled = dict(sleeper, start_time=sleeper["start_time"] + 1, cgroups=[])
    assert not second.adopt(recycled)
    assert second.adopt(sleeper), "the real owner of the pid keeps running"
    assert not second.adopt(ended)
    assert not first.adopt(ended)


def test_stop_is_a_no_op_once_ended(executor: TrackingExecutor, make_spec: SpecFactory) -> None:
    handle = executor.start(make_spec("import sys; sys.exit(4)"))
    info = wait_exit(executor, handle)

    executor.stop(handle, grace=0)

    assert executor.poll(handle) == info


def test_stop_and_poll_from_two_threads_agree(
    executor: TrackingExecutor, make_spec: SpecFactory
) -> None:
    code = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("ready", flush=True)
time.sleep(30)
"""
    handle = executor.start(make_spec(code))
    wait_log(executor, handle, "ready")
    stopper = threading.Thread(target=executor.stop, args=(handle, 5))

    stopper.start()
    seen = wait_exit(executor, handle)
    stopper.join()

    assert seen == executor.poll(handle) == ExitInfo(0, reason="stopped")


def test_the_workload_inherits_no_descriptors_or_ignored_signals(
    plain_executor: TrackingExecutor, make_spec: SpecFactory
) -> None:
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    try:
        handle = plain_executor.start(
            make_spec(argv=["sh", "-c", "ls /proc/$$/fd; cat /proc/$$/status"])
        )
        assert wait_exit(plain_executor, handle) == ExitInfo(0)
    finally:
        os.close(read_end)
        os.close(write_end)
    lines = plain_executor.logs(handle)[0].decode().split("\n")

    assert lines[:3] == ["0", "1", "2"] and lines[3].startswith("Name:")
    (ignored,) = [int(line.split()[1], 16) for line in lines if line.startswith("SigIgn:")]
    # Signals 1-31; glibc's posix_spawn leaves its own two (32, 33) ignored, and every libc
    # (and Go) installs handlers for those at start-up anyway.
    assert ignored & 0x7FFFFFFF == 0


def test_a_wrapper_that_waits_gives_its_child_the_grace_period(
    executor: TrackingExecutor, make_spec: SpecFactory
) -> None:
    # os.write, not print: a SIGTERM landing while print("ready") still holds stdout's buffer
    # lock would make the handler's print raise "reentrant call" and exit 1.
    child = """
import os, signal, sys, time
def end(*_):
    time.sleep(0.2)
    os.write(1, b"child cleaned up\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, end)
os.write(1, b"ready\\n")
time.sleep(30)
"""
    wrapper = (
        'trap : TERM; "$@" & child=$!; '
        'while :; do wait "$child"; code=$?; kill -0 "$child" 2>/dev/null || break; done; '
        'exit "$code"'
    )
    spec = make_spec(argv=["/bin/sh", "-c", wrapper, "wrapper", sys.executable, "-c", child])
    handle = executor.start(spec)
    wait_log(executor, handle, "ready")

    executor.stop(handle, grace=5)

    log = executor.logs(handle)[0].decode()
    assert executor.poll(handle) == ExitInfo(0, reason="stopped"), log
    assert "child cleaned up" in log
