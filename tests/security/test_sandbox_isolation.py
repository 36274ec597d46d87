"""Issue 12, C1 and M6: what a job can reach of the server and of other people's workloads.

Each test is an attack from the review, run as a real job through the scheduler and the local
executor in its default sandbox (bubblewrap). The job prints what it found as JSON on a line
starting with ``RESULT``.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Callable

import pytest

from lakeworks.entities.jobs import JobRun, RunStatus
from lakeworks.entities.projects import Project
from lakeworks.executors import sandbox
from lakeworks.services.platform import Platform, Principal

RunJob = Callable[..., tuple[JobRun, str]]


def result(run: JobRun, log: str) -> dict[str, object]:
    assert run.status is RunStatus.SUCCEEDED, (run.reason, log)
    line = next(x for x in reversed(log.splitlines()) if x.startswith("RESULT "))
    found: dict[str, object] = json.loads(line.removeprefix("RESULT "))
    return found


READ_FILES = """
import json, sys
def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError as exc:
        return type(exc).__name__
print("RESULT " + json.dumps({path: read(path) for path in sys.argv[1:]}))
"""


def test_a_job_cannot_read_the_servers_secret_key_or_other_projects(
    sandboxed: Platform,
    run_job: RunJob,
    mallory: Principal,
    mallory_project: Project,
    alice_project: Project,
) -> None:
    data = sandboxed.settings.data_dir
    secret = secrets.token_urlsafe(48)
    (data / "secret_key").write_text(secret)  # as dev mode keeps it
    (data / "secret_key").chmod(0o600)
    alice_file = sandboxed.settings.projects_dir / alice_project.id / "private.csv"
    alice_file.write_text("alice's numbers")
    targets = [
        str(data / "secret_key"),
        str(data / "lakeworks.db"),
        str(alice_file),
        f"/home/cdsw/../{alice_project.id}/private.csv",
    ]

    run, log = run_job(mallory, mallory_project, READ_FILES, arguments=" ".join(targets))
    found = result(run, log)

    assert secret not in log and "alice's numbers" not in log
    assert all(found[t] == "FileNotFoundError" for t in targets), found


def test_a_job_runs_unprivileged_with_a_minimal_etc(
    sandboxed: Platform, run_job: RunJob, mallory: Principal, mallory_project: Project
) -> None:
    code = """
import json, os, pwd, subprocess
print("RESULT " + json.dumps({
    "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "id_u": subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip(),
    "user": pwd.getpwuid(os.getuid()).pw_name,
    "etc": sorted(os.listdir("/etc")),
    "shadow": os.path.exists("/etc/shadow"),
    "status": [l for l in open("/proc/self/status").read().splitlines()
               if l.startswith(("CapEff", "CapPrm", "CapBnd", "NoNewPrivs"))],
}))
"""
    found = result(*run_job(mallory, mallory_project, code))

    assert found["uid"] != 0 and found["euid"] != 0 and found["id_u"] == str(found["uid"])
    assert found["user"] == "cdsw"
    assert found["shadow"] is False
    etc = set(found["etc"])  # type: ignore[arg-type]
    assert {"passwd", "group", "hosts", "resolv.conf"} <= etc
    assert not etc & {"shadow", "gshadow", "sudoers", "ssh", "subuid"}, etc
    if os.geteuid() == 0:  # a root server drops the workload to its project's uid
        project_dir = sandboxed.settings.projects_dir / mallory_project.id
        assert found["uid"] == found["gid"] == sandbox.project_uid(str(project_dir))
        assert found["groups"] == []  # no supplementary groups (root's are cleared)
        assert "CapEff:\t0000000000000000" in found["status"]  # type: ignore[operator]
        assert "CapBnd:\t0000000000000000" in found["status"]  # type: ignore[operator]
        assert "NoNewPrivs:\t1" in found["status"]  # type: ignore[operator]
    else:  # an ordinary server's workloads run as that user
        assert found["uid"] == os.getuid()


def test_a_job_cannot_read_another_users_running_workload(
    sandboxed: Platform,
    start_job: Callable[..., JobRun],
    wait_run: Callable[..., JobRun],
    run_job: RunJob,
    alice: Principal,
    alice_project: Project,
    mallory: Principal,
    mallory_project: Project,
) -> None:
    secret = secrets.token_hex(16)
    victim = start_job(
        alice,
        alice_project,
        "import time\nprint('up', flush=True)\ntime.sleep(120)\n",
        environment={"ALICE_SECRET": secret},
    )
    victim = wait_run(victim, frozenset({RunStatus.RUNNING}))
    scan = """
import json, os, sys
marks = [m.encode() for m in sys.argv[1:]]
seen, found = [], []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        seen.append(int(pid))
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if any(m in env for m in marks):  # Alice's secret, or any of her project's workloads
            found.append(pid)
print("RESULT " + json.dumps({"pids": seen, "found": found}))
"""
    marks = f"{secret} CDSW_PROJECT_ID={alice_project.id}"
    found = result(*run_job(mallory, mallory_project, scan, arguments=marks))

    assert found["found"] == []
    assert len(found["pids"]) < 10, found["pids"]  # its own pid namespace: only its own tree
    assert wait_run(victim, frozenset({RunStatus.RUNNING})).status is RunStatus.RUNNING


def test_the_servers_files_stay_writable_by_the_projects_later_workloads(
    sandboxed: Platform,
    run_job: RunJob,
    alice: Principal,
    alice_project: Project,
) -> None:
    root = sandboxed.settings.projects_dir / alice_project.id
    (root / "uploads").mkdir()
    (root / "uploads" / "data.csv").write_text("a,b\n")  # as an upload by the server
    outside = sandboxed.settings.data_dir / "outside.txt"
    outside.write_text("the server's")
    (root / "link-out").symlink_to(outside)
    code = """
import json, os
with open("uploads/data.csv", "a") as f:
    f.write("1,2\\n")
os.makedirs("uploads/more", exist_ok=True)
with open("uploads/more/made.txt", "w") as f:
    f.write("by the first job")
print("RESULT " + json.dumps({"ok": True}))
"""
    result(*run_job(alice, alice_project, code))
    # A later workload of the project (the file API writes meanwhile, as root).
    (root / "uploads" / "more" / "server.txt").write_text("server")
    again = """
import json, os
with open("uploads/more/made.txt", "a") as f:
    f.write(", then the second")
with open("uploads/more/server.txt", "a") as f:
    f.write(" and job")
os.remove("uploads/data.csv")
print("RESULT " + json.dumps({"ok": True}))
"""
    result(*run_job(alice, alice_project, again))

    assert (
        root / "uploads" / "more" / "made.txt"
    ).read_text() == "by the first job, then the second"
    assert (root / "uploads" / "more" / "server.txt").read_text() == "server and job"
    assert not (root / "uploads" / "data.csv").exists()
    # The hand-over never follows a link out of the project.
    assert outside.stat().st_uid == os.geteuid()
    if os.geteuid() == 0:
        uid = sandbox.project_uid(str(root))
        assert (root / "uploads" / "more" / "made.txt").stat().st_uid == uid
        assert stat.S_ISLNK((root / "link-out").lstat().st_mode)


def test_files_uploaded_while_a_session_runs_are_the_workloads_at_once(
    sandboxed: Platform, alice: Principal, alice_project: Project
) -> None:
    """The file API hands what it writes to the project's workload user right away, not at
    the next start: a running session can change a file uploaded meanwhile."""
    from lakeworks.services import files

    if os.geteuid() != 0:
        pytest.skip("a non-root server runs workloads as itself: its files are theirs already")
    root = sandboxed.settings.projects_dir / alice_project.id
    outside = sandboxed.settings.data_dir / "outside-upload.txt"
    outside.write_text("the server's")
    (root / "planted").symlink_to(outside)
    files.write_bytes(sandboxed, alice, alice_project.id, "incoming/new.csv", b"a,b\n")
    files.mkdir(sandboxed, alice, alice_project.id, "incoming/empty")
    uid = sandbox.project_uid(str(root))
    assert (root / "incoming" / "new.csv").stat().st_uid == uid
    assert (root / "incoming").stat().st_uid == uid
    assert (root / "incoming" / "empty").stat().st_uid == uid
    assert outside.stat().st_uid == 0  # the walk changed the link, never what it points to
