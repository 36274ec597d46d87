"""What a workload sees of the machine: with bubblewrap, and without it."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.executors.support import TrackingExecutor, wait_exit

from lakeworks.entities.workloads import ExitInfo, WorkloadSpec
from lakeworks.executors.base import StartFailed

SpecFactory = Callable[..., WorkloadSpec]

LOOK_AROUND = """
import json, os, sys
def can_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
    except OSError:
        return False
    return True
print(json.dumps({
    "cwd": os.getcwd(),
    "wrote_project": can_write("made-inside"),
    "wrote_runtime": can_write(sys.argv[1] + "/made-inside"),
    "wrote_tmp": can_write(sys.argv[3]),
    "sees_host_file": os.path.exists(sys.argv[2]),
}))
"""


def _in_tmp() -> Path:
    return Path("/tmp") / f"lakeworks-test-{uuid.uuid4().hex}"


@pytest.fixture
def bwrap_executor(make_executor: Callable[..., TrackingExecutor]) -> TrackingExecutor:
    executor = make_executor(use_bwrap=None)
    if executor.sandbox != "bwrap":
        pytest.skip("bubblewrap does not work on this machine")
    return executor


def _look_around(
    executor: TrackingExecutor, make_spec: SpecFactory, tmp_path: Path, in_tmp: Path
) -> dict[str, object]:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    host_file = tmp_path / "host-only"
    host_file.touch()
    spec = make_spec(
        argv=[sys.executable, "-c", LOOK_AROUND, str(runtime), str(host_file), str(in_tmp)],
        runtime_dir=runtime,
        extra_ro_binds=[Path(sys.prefix), Path(sys.base_prefix)],
    )
    handle = executor.start(spec)
    assert wait_exit(executor, handle) == ExitInfo(0), executor.logs(handle)
    seen: dict[str, object] = json.loads(executor.logs(handle)[0])
    seen["runtime_changed"] = (runtime / "made-inside").exists()
    return seen


def test_bwrap_mounts_the_project_at_home_cdsw(
    bwrap_executor: TrackingExecutor, make_spec: SpecFactory, project: Path, tmp_path: Path
) -> None:
    seen = _look_around(bwrap_executor, make_spec, tmp_path, _in_tmp())

    assert seen["cwd"] == "/home/cdsw" == bwrap_executor.project_home(make_spec())
    assert seen["wrote_project"] and (project / "made-inside").read_text() == "x"


def test_bwrap_keeps_the_runtime_read_only_and_tmp_private(
    bwrap_executor: TrackingExecutor, make_spec: SpecFactory, tmp_path: Path
) -> None:
    in_tmp = _in_tmp()
    seen = _look_around(bwrap_executor, make_spec, tmp_path, in_tmp)

    assert seen["wrote_runtime"] is False and seen["runtime_changed"] is False
    assert seen["wrote_tmp"] is True and not in_tmp.exists()
    assert seen["sees_host_file"] is False


def test_without_bwrap_the_workload_runs_in_the_project_directory(
    plain_executor: TrackingExecutor, make_spec: SpecFactory, project: Path, tmp_path: Path
) -> None:
    in_tmp = _in_tmp()
    seen = _look_around(plain_executor, make_spec, tmp_path, in_tmp)
    in_tmp.unlink()

    assert plain_executor.sandbox == "none"
    assert seen["cwd"] == str(project) == plain_executor.project_home(make_spec())
    assert (project / "made-inside").exists()
    (tmp_path / "runtime" / "made-inside").unlink()


def test_without_bwrap_installed_the_executor_falls_back(
    make_executor: Callable[..., TrackingExecutor], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    assert make_executor(use_bwrap=None).sandbox == "none"
    with pytest.raises(StartFailed, match="bwrap is not installed"):
        make_executor(use_bwrap=True)


def test_the_workload_runs_a_program_found_in_its_path(
    executor: TrackingExecutor, make_spec: SpecFactory
) -> None:
    spec = make_spec(argv=["sh", "-c", 'echo "$HOME"'], env={"PATH": os.environ["PATH"]})
    handle = executor.start(spec)

    assert wait_exit(executor, handle) == ExitInfo(0)
    assert executor.logs(handle)[0].decode().strip() == executor.project_home(spec)


def test_a_bwrap_that_cannot_work_here_is_not_used(
    make_executor: Callable[..., TrackingExecutor], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "bwrap").write_text("#!/bin/sh\necho 'Creating new namespace failed' >&2\nexit 1\n")
    (fake / "bwrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")

    assert make_executor(use_bwrap=None).sandbox == "none"
    with pytest.raises(StartFailed, match="does not work here: Creating new namespace failed"):
        make_executor(use_bwrap=True)


def test_the_sandbox_etc_of_a_uid_is_written_safely_by_starts_at_once(tmp_path: Path) -> None:
    """Two workloads of one project starting together both write its /etc; the second used
    to find the first had moved the shared partial file ('could not prepare the sandbox')."""
    import threading

    from lakeworks.executors import sandbox

    identity = sandbox.Identity(uid=1_500_000, gid=1_500_000, switch=True)
    for attempt in range(20):
        state = tmp_path / str(attempt)
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []

        def write(
            state: Path = state,
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
        ) -> None:
            barrier.wait()
            try:
                sandbox.write_etc(state, identity)
            except BaseException as exc:  # collected, and reported below
                errors.append(exc)

        threads = [threading.Thread(target=write) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        etc = state / "etc" / str(identity.uid)
        assert sorted(p.name for p in etc.iterdir()) == ["group", "passwd"]  # no partial left
        assert f"cdsw:x:{identity.uid}" in (etc / "passwd").read_text()


REACH_SERVER_SOCKET = """
import os, socket
with socket.socket(socket.AF_UNIX) as s:
    s.connect("/run/lakeworks/gateway.sock")
    s.sendall(b"ping")
    print("answer", s.recv(16).decode())
for attempt in (lambda: os.unlink("/run/lakeworks/gateway.sock"),
                lambda: open("/run/lakeworks/other.sock", "w")):
    try:
        attempt()
        print("changed the server's directory")
    except OSError as exc:
        print("refused", exc.strerror)
"""


def test_a_sandbox_reaches_the_servers_socket_across_its_network_but_cannot_replace_it(
    make_executor: Callable[..., TrackingExecutor], make_spec: SpecFactory, tmp_path: Path
) -> None:
    import socket
    import threading

    server_dir = tmp_path / "run"
    executor = make_executor(use_bwrap=None, isolate_network=True, server_dir=server_dir)
    if executor.sandbox != "bwrap" or executor.refusal:
        pytest.skip(f"no sandbox with a network of its own here: {executor.refusal}")
    path = server_dir / "gateway.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    path.chmod(0o666)
    listener.listen()
    heard: list[bytes] = []

    def answer() -> None:
        connection, _ = listener.accept()
        with connection:
            heard.append(connection.recv(16))
            connection.sendall(b"pong")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        handle = executor.start(make_spec(REACH_SERVER_SOCKET))
        assert wait_exit(executor, handle) == ExitInfo(0), executor.logs(handle)
    finally:
        listener.close()
    log = executor.logs(handle)[0].decode()
    assert heard == [b"ping"] and "answer pong" in log, log
    assert log.count("refused Read-only file system") == 2, log
    assert sorted(p.name for p in server_dir.iterdir()) == ["gateway.sock"]
