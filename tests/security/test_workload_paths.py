"""Issue 12, C2 and H1: the server never follows a path a workload controls out of the project.

Each touch point gets what a hostile workload leaves in the project: a symlink to a file
outside it, a symlink to a folder outside it, a hard link to a file outside it (what an
unsandboxed workload could make) and a FIFO (which would block a plain read forever).
C2 and H1 are replayed with real jobs on the local executor, as they were found.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.scheduler.conftest are parameters)

from __future__ import annotations

import os
import threading
import zipfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.scheduler.conftest import (  # noqa: F401  (fixtures for real job runs)
    job_platform,
    job_settings,
    owner,
    owner_principal,
    project,
    scheduler,
    wait_for,
)
from tests.tracking.fixtures import tracking_settings

from lakeworks.config import Settings
from lakeworks.data import spark
from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.entities.workloads import (
    ExitInfo,
    Resources,
    Workload,
    WorkloadKind,
    WorkloadStatus,
)
from lakeworks.errors import InvalidInput, NotFound
from lakeworks.safe_paths import UnsafePath
from lakeworks.services import files, job_runs, jobs, model_builds, projects, workloads
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal
from lakeworks.tracking import gate

SECRET = b"top secret"


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()``, failing the test if it is still blocked after ``seconds`` (a FIFO)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed back to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the server blocked for {seconds} s (on a FIFO?)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.fixture
def settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return tracking_settings(settings, tmp_path_factory.mktemp("mlflow-template"))


@pytest.fixture
def outside(settings: Settings) -> Path:
    """A folder next to the projects (same filesystem, so it can be hard-linked)."""
    folder = settings.data_dir / "outside"
    folder.mkdir(parents=True)
    (folder / "secret.txt").write_bytes(SECRET)
    return folder


def plant(folder: Path, outside: Path) -> None:
    """What a hostile workload leaves in ``folder``, next to one plain file."""
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink(outside / "secret.txt", folder / "leak")
    os.symlink(outside, folder / "leakdir")
    os.link(outside / "secret.txt", folder / "hard")
    os.mkfifo(folder / "pipe")
    (folder / "plain.txt").write_text("plain")


def holds_secret(folder: Path) -> list[str]:
    return [
        str(p)
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink() and SECRET in p.read_bytes()
    ]


@pytest.fixture
def alice(make_user: Callable[..., User]) -> Principal:
    return Principal(user=make_user("alice"), via="api_key")


@pytest.fixture
def alice_project(platform: Platform, alice: Principal) -> Project:
    return projects.create(platform, alice, name="Paths", source=projects.parse_source("", ""))


# C2 and H1, as found: real jobs ---------------------------------------------------------

PLANT_JOB = """
import os
out = os.environ["LAKEWORKS_OUTPUT_DIR"]
os.makedirs(out + "/files")
secret = os.environ["SECRET_PATH"]
os.symlink(secret, out + "/files/leak")                    # C2 as reported
os.symlink(os.path.dirname(secret), out + "/files/leakdir")
os.mkfifo(out + "/files/pipe")
os.mkfifo(out + "/metrics.jsonl")                          # would block the recorder
os.link("inside.txt", out + "/files/hard")                 # a second link
os.rename("planted-hard", out + "/files/planted-hard")     # a hard link to the secret
with open(out + "/files/plain.txt", "w") as handle:
    handle.write("plain")
conf = ".lakeworks/spark/conf"                              # H1: where the server writes
os.makedirs(conf, exist_ok=True)
for name in ("spark-defaults.conf", "spark-defaults.conf.new"):
    if os.path.lexists(f"{conf}/{name}"):
        os.remove(f"{conf}/{name}")
    os.symlink(os.environ["HOST_FILE"], f"{conf}/{name}")
print("planted")
"""


@pytest.mark.timeout(300)
def test_job_outputs_and_spark_config_never_follow_what_the_job_planted(
    job_platform: Platform,
    owner_principal: Principal,
    project: Project,
    wait_for: Callable[..., Any],
    outside: Path,
) -> None:
    root = job_platform.settings.projects_dir / project.id
    (root / "plant.py").write_text(PLANT_JOB)
    (root / "inside.txt").write_text("inside")
    # An unsandboxed workload could hard-link any file; the job moves this one into place.
    os.link(outside / "secret.txt", root / "planted-hard")
    host_file = outside / "host-file.conf"
    host_file.write_text("host configuration")
    job = jobs.create(
        job_platform,
        owner_principal,
        project.id,
        JobFields(
            name="plant",
            script="plant.py",
            environment={
                "SECRET_PATH": str(outside / "secret.txt"),
                "HOST_FILE": str(host_file),
            },
        ),
    )
    first = job_runs.trigger(job_platform, owner_principal, project.id, job.id)
    done = wait_for(first.id, {RunStatus.SUCCEEDED, RunStatus.FAILED}, timeout=120)
    log, _, _ = job_runs.run_log(job_platform, owner_principal, project.id, job.id, first.id)
    assert done.status is RunStatus.SUCCEEDED, log.decode(errors="replace")

    # C2: the run's files were recorded as MLflow artifacts: the plain file only.
    artifacts = root / ".experiments"
    recorded = sorted(p.name for p in artifacts.rglob("*") if p.is_file() or p.is_symlink())
    assert recorded == ["plain.txt"], recorded
    assert holds_secret(artifacts) == []

    # H1: the next workload start writes the Spark config; the planted links are replaced.
    second = job_runs.trigger(job_platform, owner_principal, project.id, job.id)
    wait_for(second.id, {RunStatus.SUCCEEDED, RunStatus.FAILED}, timeout=120)
    assert host_file.read_text() == "host configuration"
    conf = root / spark.SPARK_DIR / "conf" / "spark-defaults.conf"
    assert not conf.is_symlink() and "spark.master" in conf.read_text()
    assert (outside / "secret.txt").read_bytes() == SECRET


# H1: Spark config, every planted shape ----------------------------------------------------


@pytest.mark.parametrize(
    "name", ["spark-defaults.conf", "spark-defaults.conf.new", "core-site.xml", "core-site.xml.new"]
)
def test_spark_config_replaces_links_hard_links_and_fifos_at_its_names(
    tmp_path: Path, outside: Path, name: str
) -> None:
    conf = tmp_path / "project" / spark.SPARK_DIR / "conf"
    conf.mkdir(parents=True)
    for planted in ("leak", "hard", "pipe"):
        target = conf / name
        if target.exists() or target.is_symlink():
            target.unlink()
        if planted == "leak":
            os.symlink(outside / "secret.txt", target)
        elif planted == "hard":
            os.link(outside / "secret.txt", target)
        else:
            os.mkfifo(target)
        within(5, lambda: spark.prepare(tmp_path / "project", "/home/cdsw", "", ui=False))
        written = conf / "spark-defaults.conf"
        assert not written.is_symlink() and written.stat().st_nlink == 1
        assert "spark.master local[*]" in written.read_text()
        core = conf / "core-site.xml"
        assert not core.is_symlink() and core.stat().st_nlink == 1
        assert "NullGroupsMapping" in core.read_text()
        assert (outside / "secret.txt").read_bytes() == SECRET


def test_spark_config_refuses_a_linked_folder(tmp_path: Path, outside: Path) -> None:
    project_dir = tmp_path / "project"
    (project_dir / ".lakeworks").mkdir(parents=True)
    os.symlink(outside, project_dir / ".lakeworks" / "spark")
    with pytest.raises(UnsafePath):
        spark.prepare(project_dir, "/home/cdsw", "", ui=True)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


# Exit files ---------------------------------------------------------------------------------


def _workload(platform: Platform, project: Project, user: User, log_path: Path) -> Workload:
    with platform.store.transaction() as uow:
        return uow.workloads.add(
            workload_id=f"w{os.urandom(4).hex()}",
            kind=WorkloadKind.JOB_RUN,
            project_id=project.id,
            user_id=user.id,
            executor="local",
            log_path=str(log_path),
            resources=Resources(cpu=1.0, memory_mb=256),
        )


def test_exit_files_are_read_only_when_plain(
    platform: Platform, alice: Principal, alice_project: Project, outside: Path
) -> None:
    root = platform.settings.projects_dir / alice_project.id
    exits = root / workloads.EXIT_DIR
    exits.mkdir(parents=True)
    unknown = ExitInfo(code=-1, reason="unknown")
    (outside / "zero").write_text("0")
    for shape in ("leak", "hard", "pipe", "plain"):
        workload = _workload(platform, alice_project, alice.user, outside / "log")
        path = exits / workload.id
        if shape == "leak":
            os.symlink(outside / "zero", path)
        elif shape == "hard":
            os.link(outside / "zero", path)
        elif shape == "pipe":
            os.mkfifo(path)
        else:
            path.write_text("7\n")
        got = within(5, lambda w=workload: workloads._with_recorded_exit(platform, w, unknown))
        assert got.code == (7 if shape == "plain" else -1), shape


def test_removing_an_exit_file_never_follows_a_linked_folder(
    platform: Platform, alice: Principal, alice_project: Project, outside: Path
) -> None:
    root = platform.settings.projects_dir / alice_project.id
    (root / ".lakeworks").mkdir(parents=True)
    os.symlink(outside, root / workloads.EXIT_DIR)
    workload = _workload(platform, alice_project, alice.user, outside / "log")
    (outside / workload.id).write_text("keep me")
    with platform.store.transaction() as uow:
        uow.workloads.move(workload.id, WorkloadStatus.PENDING, WorkloadStatus.STARTING)
        uow.workloads.move(workload.id, WorkloadStatus.STARTING, WorkloadStatus.RUNNING)
    assert workloads.request_stop(platform, workload.id)  # no handle: finished at once
    assert workloads.get(platform, workload.id).status.is_final
    assert (outside / workload.id).read_text() == "keep me"


# Workload logs ------------------------------------------------------------------------------


def test_logs_that_are_links_hard_links_or_fifos_are_not_read(
    platform: Platform, alice: Principal, alice_project: Project, outside: Path
) -> None:
    logs = platform.settings.workloads_dir / "logs"
    logs.mkdir(parents=True)
    for shape in ("leak", "hard", "pipe"):
        path = logs / f"{shape}.log"
        if shape == "leak":
            os.symlink(outside / "secret.txt", path)
        elif shape == "hard":
            os.link(outside / "secret.txt", path)
        else:
            os.mkfifo(path)
        workload = _workload(platform, alice_project, alice.user, path)
        with pytest.raises(UnsafePath):
            within(5, lambda w=workload: workloads.read_log(platform, w))
        assert within(5, lambda w=workload: workloads.last_log_line(platform, w)) == ""
    plain = _workload(platform, alice_project, alice.user, logs / "plain.log")
    (logs / "plain.log").write_text("one\ntwo\n")
    assert workloads.read_log(platform, plain, 4) == (b"two\n", 8)
    assert workloads.last_log_line(platform, plain) == "two"


# Model build snapshots ----------------------------------------------------------------------


def test_a_model_build_snapshot_copies_plain_files_only(
    platform: Platform, alice_project: Project, outside: Path, tmp_path: Path
) -> None:
    root = platform.settings.projects_dir / alice_project.id
    plant(root, outside)
    plant(root / "models", outside)
    dest = tmp_path / "snapshot"
    copied_files, _bytes = within(5, lambda: model_builds.snapshot(platform, root, dest))
    found = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if not p.is_dir())
    assert "plain.txt" in found and "models/plain.txt" in found
    assert not {"leak", "hard", "pipe", "models/leak", "models/hard"} & set(found)
    assert not any(p.is_symlink() for p in dest.rglob("*"))
    assert holds_secret(dest) == [] and copied_files == len(found)


def test_a_fifo_gitignore_is_refused_instead_of_hanging_the_snapshot(
    platform: Platform, alice_project: Project, tmp_path: Path
) -> None:
    root = platform.settings.projects_dir / alice_project.id
    (root / "model.py").write_text("def predict(x):\n    return x\n")
    (root / "sub").mkdir()
    os.mkfifo(root / "sub" / ".gitignore")  # git would block opening it
    with pytest.raises(InvalidInput, match="sub/.gitignore"):
        within(10, lambda: model_builds.snapshot(platform, root, tmp_path / "snap"))


# File downloads and reads -------------------------------------------------------------------


def test_file_reads_and_downloads_refuse_what_a_workload_planted(
    client: TestClient,
    platform: Platform,
    alice: Principal,
    alice_project: Project,
    outside: Path,
    api_headers: Callable[[User], dict[str, str]],
) -> None:
    root = platform.settings.projects_dir / alice_project.id
    plant(root / "out", outside)
    headers = api_headers(alice.user)
    base = f"/api/v2/projects/{alice_project.id}/files"
    for name in ("leak", "hard", "pipe", "leakdir/secret.txt"):
        answer = within(10, lambda n=name: client.get(f"{base}/out/{n}:download", headers=headers))
        assert answer.status_code == 400, (name, answer.text)
        assert SECRET not in answer.content
        with pytest.raises(InvalidInput):
            within(
                5, lambda n=name: files.read_bytes(platform, alice, alice_project.id, f"out/{n}")
            )
    whole = within(10, lambda: client.get(f"{base}/out:download", headers=headers))
    assert whole.status_code == 200
    with zipfile.ZipFile(BytesIO(whole.content)) as zf:
        assert zf.namelist() == ["plain.txt"]
    one = client.get(f"{base}/out/plain.txt:download", headers=headers)
    assert one.status_code == 200 and one.content == b"plain"
    assert one.headers["content-disposition"] == 'attachment; filename="plain.txt"'


def test_artifact_reads_refuse_what_a_workload_planted(
    platform: Platform, alice_project: Project, outside: Path
) -> None:
    root = platform.settings.projects_dir / alice_project.id
    folder = root / ".experiments" / "1" / "run" / "artifacts"
    plant(folder, outside)
    for name in ("hard", "pipe"):
        with pytest.raises(UnsafePath):
            within(5, lambda n=name: gate._file_response(root, folder / n, n, 1 << 20))
    with pytest.raises(NotFound):
        gate._file_response(root, folder, "", 1 << 20)
    status, _headers, body = gate._file_response(root, folder / "plain.txt", "plain.txt", 100)
    assert (status, body) == (200, b"plain")


# File writes: a folder swapped for a link between the check and the write -------------------


@pytest.mark.parametrize("operation", ["write", "upload", "mkdir", "move", "delete"])
def test_file_writes_never_land_outside_when_a_folder_is_swapped_for_a_link(
    platform: Platform,
    alice: Principal,
    alice_project: Project,
    outside: Path,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
) -> None:
    root = platform.settings.projects_dir / alice_project.id
    (root / "data").mkdir()
    (root / "data" / "secret.txt").write_text("inside")
    (root / "keep.txt").write_text("keep")
    real_resolve = files.resolve

    def resolve_then_swap(base: Path, path: str, **kwargs: Any) -> Path:
        # The workload wins the race: right after the server checked a path in "data",
        # "data" is a link to a folder outside the project.
        location = real_resolve(base, path, **kwargs)
        if path.startswith("data") and not (root / "data").is_symlink():
            (root / "data" / "secret.txt").unlink()
            (root / "data").rmdir()
            os.symlink(outside, root / "data")
        return location

    monkeypatch.setattr(files, "resolve", resolve_then_swap)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    attempts = {
        "write": lambda: files.write_bytes(
            platform, alice, alice_project.id, "data/secret.txt", b"pwned"
        ),
        "upload": lambda: files.write_stream(
            platform, alice, alice_project.id, "data/new.txt", BytesIO(b"pwned")
        ),
        "mkdir": lambda: files.mkdir(platform, alice, alice_project.id, "data/sub"),
        "move": lambda: files.move(platform, alice, alice_project.id, "keep.txt", "data/k.txt"),
        "delete": lambda: files.delete(platform, alice, alice_project.id, "data/secret.txt"),
    }
    with pytest.raises(UnsafePath):
        attempts[operation]()
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before
