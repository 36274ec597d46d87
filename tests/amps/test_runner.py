"""AMP setups end to end with real workloads: an AMP written from compat spec §10 only, run
through API v2; a failing task in the middle, retried and skipped; bad input refused."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import login

from lakeworks.amps import runner
from lakeworks.entities.amps import SetupStatus, TaskStatus
from lakeworks.entities.applications import AppStatus
from lakeworks.entities.users import User
from lakeworks.services import applications, experiment_runs, jobs, models, projects
from lakeworks.services.platform import Platform, Principal

METADATA = """\
name: Lakeworks AMP check
description: Prepares a file, runs a job, serves a model and an app.
author: Lakeworks tests
specification_version: 1.0
prototype_version: 1.0
date: "2026-12-03"
environment_variables:
  GREETING:
    default: hello
    description: Written into the job's output.
  OUTPUT_FILE:
    default: ""
    description: Where the job writes (project-relative).
    required: true
shared_memory_limit: 0.125
feature_dependencies: [model_metrics]
tasks:
  - type: run_session
    name: Prepare
    script: setup/prepare.py
    kernel: python3
  - type: create_job
    name: Write output
    entity_label: writer
    script: jobs/write.py
    arguments: --times 2
    memory: 1
    environment:
      FROM_TASK: job-env
  - type: run_job
    entity_label: writer
  - type: run_experiment
    name: Baseline
    script: jobs/experiment.py
    arguments: "[0.1,1,10]"
  - type: create_model
    name: Doubler
    entity_label: doubler
    description: Doubles x
    access_key_environment_variable: DOUBLER_KEY
    default_resources: {cpu: 1, memory: 1}
    default_replication_policy: {type: fixed, num_replicas: 1}
  - type: build_model
    entity_label: doubler
    comment: first build
    target_file_path: model/predict.py
    target_function_name: predict
    examples:
      - request: {x: 2,}
        response: {doubled: 4}
  - type: deploy_model
    entity_label: doubler
    cpu: 1
    memory: 1
  - type: start_application
    name: Hello app
    subdomain: amp-hello
    script: app/serve.py
    environment_variables:
      APP_WORD: served
"""

FILES = {
    ".project-metadata.yaml": METADATA,
    "setup/prepare.py": """
import os
os.makedirs("out", exist_ok=True)
open("out/prepared.txt", "w").write(os.environ["GREETING"])
""",
    "jobs/write.py": """
import os, sys
prepared = open("out/prepared.txt").read()
times = int(sys.argv[sys.argv.index("--times") + 1])
with open(os.environ["OUTPUT_FILE"], "w") as out:
    out.write(" ".join([prepared] * times) + " " + os.environ["FROM_TASK"])
""",
    "jobs/experiment.py": """
import sys
import cdsw
open("out/experiment.txt", "w").write(sys.argv[1])
cdsw.track_metric("grid", sys.argv[1])
cdsw.track_file("out/experiment.txt")
""",
    "model/predict.py": """
def predict(args):
    return {"doubled": args["x"] * 2}
""",
    "app/serve.py": """
import http.server, json, os

class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"word": os.environ["APP_WORD"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(("127.0.0.1", int(os.environ["CDSW_APP_PORT"])), Hello).serve_forever()
""",
}


def _api_key(platform: Platform, user: User) -> dict[str, str]:
    from lakeworks.services import auth

    new = auth.create_api_key(platform, Principal(user=user, via="cli"), user.username)
    return {"Authorization": f"Bearer {new.secret}"}


@pytest.mark.timeout(900)
def test_an_amp_sets_itself_up_end_to_end(
    serving_client: TestClient,
    serving_platform: Platform,
    modeler: User,
    modeler_principal: Principal,
    amp_repo: Callable[[dict[str, str]], str],
    amp_tick: Callable[..., Any],
) -> None:
    platform, who = serving_platform, modeler_principal
    headers = _api_key(platform, modeler)
    url = amp_repo(FILES)
    made = serving_client.post(
        "/api/v2/projects",
        json={
            "name": "AMP check",
            "template": "amp",
            "git_url": url,
            "environment": {"OUTPUT_FILE": "out/result.txt"},
        },
        headers=headers,
    )
    assert made.status_code == 200, made.text
    body = made.json()
    project_id = body["id"]
    assert body["creation_status"] == "creating"
    assert [t["status"] for t in body["amp"]["tasks"]] == ["pending"] * 8
    assert body["shared_memory_limit"] == 128
    # The declared variables are project variables before the first task runs.
    env = {v.name: v.value for v in projects.get_env(platform, who, project_id)}
    assert env["GREETING"] == "hello" and env["OUTPUT_FILE"] == "out/result.txt"

    setup = amp_tick(project_id, {SetupStatus.SUCCEEDED, SetupStatus.FAILED}, timeout=800)
    assert setup.status is SetupStatus.SUCCEEDED, [(t.title, t.reason) for t in setup.tasks]
    assert all(t.status is TaskStatus.SUCCEEDED for t in setup.tasks)
    assert all(t.attempts == 1 and t.duration_seconds is not None for t in setup.tasks)

    root = platform.settings.projects_dir / project_id
    assert (root / "out" / "result.txt").read_text() == "hello hello job-env"
    # run_experiment made a legacy experiment run (compat §3.4): from a snapshot, so what it
    # wrote stayed in its own copy; its metric and file are the run's.
    assert not (root / "out" / "experiment.txt").exists()
    (experiment,) = experiment_runs.list_runs(platform, who, project_id)
    assert experiment.comment == "AMP experiment: Baseline"
    assert experiment.metrics == {"grid": "[0.1,1,10]"}
    tracked = experiment_runs.tracked_files(platform, who, project_id, experiment.id)
    assert [f.path for f in tracked] == ["out/experiment.txt"]

    # The job the AMP created is a manual job with its environment; the model's access key is
    # in the project variable the AMP named.
    found = {j.name: j for j in jobs.list_jobs(platform, who, project_id)}
    assert found["Write output"].schedule == ""
    assert "AMP session: Prepare" in found and "AMP experiment: Baseline" not in found
    model = next(m for m in models.list_models(platform, who, project_id) if m.name == "Doubler")
    env = {v.name: v.value for v in projects.get_env(platform, who, project_id)}
    assert env["DOUBLER_KEY"] == models.access_key(platform, model)

    # The model serves through the gateway.
    answer = serving_client.post(
        "/model", json={"accessKey": env["DOUBLER_KEY"], "request": {"x": 21}}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["response"] == {"doubled": 42}

    # The application runs and answers on its port with the task's variables.
    app = next(a for a in applications.list_applications(platform, who, project_id))
    assert app.status is AppStatus.RUNNING and app.subdomain == "amp-hello"
    with urllib.request.urlopen(f"http://{app.target}/", timeout=10) as response:
        assert json.loads(response.read()) == {"word": "served"}

    # API v2 shows the same, with log links; the project is a success.
    shown = serving_client.get(f"/api/v2/projects/{project_id}/amp", headers=headers).json()
    assert shown["status"] == "succeeded"
    assert shown["tasks"][2]["log_url"].startswith(f"/projects/{project_id}/jobs/")
    assert shown["tasks"][3]["log_url"] == (
        f"/projects/{project_id}/legacy_experiments/{experiment.id}"
    )
    assert "/builds/" in shown["tasks"][5]["log_url"]
    project = serving_client.get(f"/api/v2/projects/{project_id}", headers=headers).json()
    assert project["creation_status"] == "success"


FLAKY = {
    ".project-metadata.yaml": """\
name: Flaky AMP
description: Its second job fails until a file exists.
author: Lakeworks tests
specification_version: 1.0
prototype_version: 1.0
tasks:
  - type: create_job
    entity_label: first
    script: first.py
  - type: run_job
    entity_label: first
  - type: create_job
    name: Needs fix
    entity_label: flaky
    script: flaky.py
  - type: run_job
    entity_label: flaky
  - type: run_session
    name: After
    script: after.py
""",
    "first.py": "open('first.txt', 'a').write('ran\\n')\n",
    "flaky.py": """
import os, sys
if not os.path.exists("fixed"):
    print("the fix is missing")
    sys.exit(4)
print("fixed now")
""",
    "after.py": "open('after.txt', 'w').write('after')\n",
}


@pytest.mark.timeout(600)
def test_a_failing_task_stops_the_setup_and_retry_resumes_from_it(
    serving_client: TestClient,
    serving_platform: Platform,
    modeler: User,
    modeler_principal: Principal,
    amp_repo: Callable[[dict[str, str]], str],
    amp_tick: Callable[..., Any],
) -> None:
    platform, who = serving_platform, modeler_principal
    headers = _api_key(platform, modeler)
    made = serving_client.post(
        "/api/v2/projects",
        json={"name": "Flaky", "template": "amp", "git_url": amp_repo(FLAKY)},
        headers=headers,
    )
    assert made.status_code == 200, made.text
    project_id = made.json()["id"]

    failed = amp_tick(project_id, {SetupStatus.FAILED, SetupStatus.SUCCEEDED})
    assert failed.status is SetupStatus.FAILED
    states = [t.status for t in failed.tasks]
    assert states == [
        TaskStatus.SUCCEEDED,
        TaskStatus.SUCCEEDED,
        TaskStatus.SUCCEEDED,
        TaskStatus.FAILED,
        TaskStatus.PENDING,
    ]
    assert "Task 4" in failed.reason and "failed" in failed.tasks[3].reason
    project = serving_client.get(f"/api/v2/projects/{project_id}", headers=headers).json()
    assert project["creation_status"] == "failure"
    assert "Task 4" in project["creation_message"]
    # Only a failed setup can be retried or skipped; a second retry while running is refused.
    root = platform.settings.projects_dir / project_id
    (root / "fixed").write_text("")

    retried = serving_client.post(f"/api/v2/projects/{project_id}/amp:retry", headers=headers)
    assert retried.status_code == 200, retried.text
    assert retried.json()["tasks"][3]["status"] == "pending"
    again = serving_client.post(f"/api/v2/projects/{project_id}/amp:retry", headers=headers)
    assert again.status_code == 409, again.text

    done = amp_tick(project_id, {SetupStatus.FAILED, SetupStatus.SUCCEEDED})
    assert done.status is SetupStatus.SUCCEEDED, [(t.title, t.reason) for t in done.tasks]
    # It resumed from the failed task: the tasks before it did not run again.
    assert [t.attempts for t in done.tasks] == [1, 1, 1, 2, 1]
    assert (root / "first.txt").read_text() == "ran\n"
    assert (root / "after.txt").read_text() == "after"
    assert len([j for j in jobs.list_jobs(platform, who, project_id) if j.name == "Needs fix"]) == 1
    actions = _audit_actions(platform, project_id)
    assert "amp.start" in actions and "amp.retry" in actions and "amp.fail" in actions


@pytest.mark.timeout(600)
def test_skip_passes_over_the_failed_task(
    serving_client: TestClient,
    serving_platform: Platform,
    modeler: User,
    amp_repo: Callable[[dict[str, str]], str],
    amp_tick: Callable[..., Any],
) -> None:
    headers = _api_key(serving_platform, modeler)
    made = serving_client.post(
        "/api/v2/projects",
        json={"name": "Skipper", "template": "amp", "git_url": amp_repo(FLAKY)},
        headers=headers,
    )
    project_id = made.json()["id"]
    assert amp_tick(project_id, {SetupStatus.FAILED}).tasks[3].status is TaskStatus.FAILED

    # The project page shows the setup; its page lists the tasks, and skips from a form.
    csrf = login(serving_client, "modeler", "correct horse battery")
    overview = serving_client.get(f"/projects/{project_id}")
    assert overview.status_code == 200
    assert "data-amp-card" in overview.text and "3 of 5 tasks done" in overview.text
    page = serving_client.get(f"/projects/{project_id}/amp")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-task="(\d+)">(.*?)</tr>', page.text, re.S)
    assert [int(n) for n, _ in rows] == [0, 1, 2, 3, 4]
    assert "failed" in rows[3][1] and " s</td>" in rows[3][1]
    assert f'href="/projects/{project_id}/jobs/' in rows[3][1]
    assert "Retry the failed task" in page.text
    skipped = serving_client.post(
        f"/projects/{project_id}/amp/skip", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert skipped.status_code == 303, skipped.text
    shown = serving_client.get(f"/api/v2/projects/{project_id}/amp", headers=headers).json()
    assert shown["tasks"][3]["status"] == "skipped"
    done = amp_tick(project_id, {SetupStatus.SUCCEEDED, SetupStatus.FAILED})
    assert [t.status.value for t in done.tasks][3:] == ["skipped", "succeeded"]
    root = serving_platform.settings.projects_dir / project_id
    assert (root / "after.txt").read_text() == "after"


def _audit_actions(platform: Platform, project_id: str) -> set[str]:
    with platform.read() as uow:
        events, _ = uow.audit.query(project_id=project_id, limit=500)
    # What the tasks made is audited as the AMP's creator, not as the system.
    assert {e.actor for e in events if e.action in ("job.create", "job.run")} == {"modeler"}
    return {e.action for e in events}


# Bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("author: Lakeworks tests\n", ""), "line 1, author: this required key is missing"),
        (("    entity_label: flaky\n", "    entity_label: [flaky]\n"), "tasks[2].entity_label"),
        (("  - type: run_session\n", "  - type: run_notebook\n"), "unknown task type"),
        (
            (
                "    entity_label: first\n  - type: create",
                "    entity_label: frst\n  - type: create",
            ),
            "no earlier create_job task has entity_label 'frst'",
        ),
        (("name: Flaky AMP\n", "name: [Flaky AMP\n"), "invalid YAML"),
    ],
)
def test_bad_amp_files_are_refused_with_line_and_key_and_leave_no_project(
    serving_client: TestClient,
    serving_platform: Platform,
    modeler: User,
    modeler_principal: Principal,
    amp_repo: Callable[[dict[str, str]], str],
    change: tuple[str, str],
    expected: str,
) -> None:
    text = FLAKY[".project-metadata.yaml"]
    assert change[0] in text
    files = FLAKY | {".project-metadata.yaml": text.replace(change[0], change[1], 1)}
    headers = _api_key(serving_platform, modeler)
    made = serving_client.post(
        "/api/v2/projects",
        json={"name": "Bad", "template": "amp", "git_url": amp_repo(files)},
        headers=headers,
    )
    assert made.status_code == 400, made.text
    assert expected in made.json()["message"], made.json()
    assert ".project-metadata.yaml line " in made.json()["message"]
    listed = serving_client.get("/api/v2/projects", headers=headers).json()["projects"]
    assert listed == []


def test_required_variable_without_value_and_missing_file_are_refused(
    serving_client: TestClient,
    serving_platform: Platform,
    modeler: User,
    modeler_principal: Principal,
    amp_repo: Callable[[dict[str, str]], str],
) -> None:
    headers = _api_key(serving_platform, modeler)
    made = serving_client.post(
        "/api/v2/projects",
        json={"name": "No value", "template": "amp", "git_url": amp_repo(FILES)},
        headers=headers,
    )
    assert made.status_code == 400, made.text
    assert "needs a value for OUTPUT_FILE" in made.json()["message"]
    plain = amp_repo({"README.md": "not an AMP\n"})
    made = serving_client.post(
        "/api/v2/projects",
        json={"name": "Plain", "template": "amp", "git_url": plain},
        headers=headers,
    )
    assert made.status_code == 400 and "no .project-metadata.yaml" in made.json()["message"]
    made = serving_client.post(
        "/api/v2/projects", json={"name": "No URL", "template": "amp"}, headers=headers
    )
    assert made.status_code == 400 and "git_url" in made.json()["message"]
    assert serving_client.get("/api/v2/projects", headers=headers).json()["projects"] == []
    # Retry/skip on a project without a setup: 404; and a setup cannot be started twice.
    project = projects.create(
        serving_platform, modeler_principal, name="P", source=projects.parse_source("", "")
    )
    missing = serving_client.post(f"/api/v2/projects/{project.id}/amp:retry", headers=headers)
    assert missing.status_code == 404
    root = serving_platform.settings.projects_dir / project.id
    (root / ".project-metadata.yaml").write_text(FLAKY[".project-metadata.yaml"])
    started = runner.start_from_project(serving_platform, modeler_principal, project.id)
    assert started.status is SetupStatus.RUNNING
    twice = serving_client.post(f"/api/v2/projects/{project.id}/amp", json={}, headers=headers)
    assert twice.status_code == 409, twice.text
    not_failed = serving_client.post(f"/api/v2/projects/{project.id}/amp:skip", headers=headers)
    assert not_failed.status_code == 409


SLOW = {
    ".project-metadata.yaml": """\
name: Slow AMP
description: Its job is still running when the server restarts.
author: Lakeworks tests
specification_version: 1.0
prototype_version: 1.0
tasks:
  - type: create_job
    entity_label: slow
    script: slow.py
  - type: run_job
    entity_label: slow
  - type: run_session
    name: After
    script: after.py
""",
    "slow.py": "import time\ntime.sleep(4)\nopen('slow.txt', 'w').write('slept')\n",
    "after.py": "open('after.txt', 'w').write('after')\n",
}


@pytest.mark.timeout(600)
def test_a_server_restart_resumes_the_setup(
    serving_platform: Platform,
    serving_scheduler: Any,
    modeler_principal: Principal,
    amp_repo: Callable[[dict[str, str]], str],
) -> None:
    import time

    from lakeworks.scheduler.loop import Scheduler

    setup = runner.create_project(
        serving_platform, modeler_principal, name="Slow", git_url=amp_repo(SLOW)
    )
    project_id = setup.project_id
    deadline = time.monotonic() + 120
    while True:  # until the job run is under way
        serving_scheduler.tick(wait=True)
        now = runner.get(serving_platform, modeler_principal, project_id)
        if now.tasks[1].status is TaskStatus.RUNNING and now.tasks[1].tracked_id:
            break
        assert time.monotonic() < deadline, now
        time.sleep(0.1)
    serving_scheduler.stop()

    # A new server process: a fresh platform and scheduler on the same settings and database.
    fresh = Platform(serving_platform.settings, serving_platform.store)
    restarted = Scheduler(fresh)
    try:
        restarted.recover()
        deadline = time.monotonic() + 240
        while True:
            restarted.tick(wait=True)
            now = runner.get(fresh, modeler_principal, project_id)
            if now.status is not SetupStatus.RUNNING:
                break
            assert time.monotonic() < deadline, now
            time.sleep(0.2)
    finally:
        restarted.stop()
    assert now.status is SetupStatus.SUCCEEDED, [(t.title, t.reason) for t in now.tasks]
    assert [t.attempts for t in now.tasks] == [1, 1, 1]
    root = serving_platform.settings.projects_dir / project_id
    assert (root / "slow.txt").read_text() == "slept"
    assert (root / "after.txt").read_text() == "after"
    assert len(jobs.list_jobs(fresh, modeler_principal, project_id)) == 2


def test_the_amp_runtime_is_used_or_the_closest_one_with_a_warning(
    serving_platform: Platform, modeler_principal: Principal
) -> None:
    catalog = serving_platform.runtimes.catalog
    default = catalog.default()
    for kernel, warned in ((default.kernel, False), ("Python 3.99", True)):
        project = projects.create(
            serving_platform, modeler_principal, name=kernel, source=projects.parse_source("", "")
        )
        root = serving_platform.settings.projects_dir / project.id
        (root / ".project-metadata.yaml").write_text(
            FLAKY[".project-metadata.yaml"].replace(
                "tasks:\n",
                f"runtimes:\n  - editor: Workbench\n    kernel: {kernel}\n"
                "    edition: Standard\ntasks:\n",
            )
        )
        setup = runner.start_from_project(serving_platform, modeler_principal, project.id)
        assert setup.runtime_identifier
        chosen = catalog.resolve(setup.runtime_identifier)
        assert chosen.image_identifier == setup.runtime_identifier
        notes = [w for w in setup.warnings if "3.99" in w or "Python" in w]
        if warned:
            assert notes, setup.warnings
        else:
            assert setup.runtime_identifier == default.image_identifier and not notes


def test_a_task_refused_at_start_fails_with_the_services_reason(
    serving_platform: Platform,
    serving_scheduler: Any,
    modeler_principal: Principal,
) -> None:
    project = projects.create(
        serving_platform, modeler_principal, name="Reserved", source=projects.parse_source("", "")
    )
    root = serving_platform.settings.projects_dir / project.id
    (root / ".project-metadata.yaml").write_text(
        "name: Reserved\ndescription: d\nauthor: a\nspecification_version: 1.0\n"
        "prototype_version: 1.0\ntasks:\n"
        "  - type: start_application\n    subdomain: admin\n    script: app.py\n"
    )
    runner.start_from_project(serving_platform, modeler_principal, project.id)
    serving_scheduler.tick(wait=True)
    setup = runner.get(serving_platform, modeler_principal, project.id)
    assert setup.status is SetupStatus.FAILED
    assert setup.tasks[0].status is TaskStatus.FAILED
    assert "reserved by the platform" in setup.tasks[0].reason
    assert applications.list_applications(serving_platform, modeler_principal, project.id) == []
    # Retrying meets the same refusal again, as it should; skipping finishes the setup.
    runner.retry(serving_platform, modeler_principal, project.id)
    serving_scheduler.tick(wait=True)
    again = runner.get(serving_platform, modeler_principal, project.id)
    assert again.status is SetupStatus.FAILED and again.tasks[0].attempts == 2
    runner.skip(serving_platform, modeler_principal, project.id)
    serving_scheduler.tick(wait=True)
    assert runner.get(serving_platform, modeler_principal, project.id).status.value == "succeeded"
    assert (
        projects.get(serving_platform, modeler_principal, project.id).project.creation_status.value
        == "success"
    )


def test_viewers_see_the_setup_but_cannot_resume_it_and_strangers_see_nothing(
    serving_client: TestClient,
    serving_platform: Platform,
    serving_scheduler: Any,
    modeler_principal: Principal,
) -> None:
    from lakeworks.services import users

    project = projects.create(
        serving_platform, modeler_principal, name="Shared", source=projects.parse_source("", "")
    )
    root = serving_platform.settings.projects_dir / project.id
    (root / ".project-metadata.yaml").write_text(
        "name: Shared\ndescription: d\nauthor: a\nspecification_version: 1.0\n"
        "prototype_version: 1.0\ntasks:\n"
        "  - type: start_application\n    subdomain: admin\n    script: app.py\n"
    )
    runner.start_from_project(serving_platform, modeler_principal, project.id)
    serving_scheduler.tick(wait=True)
    people = {}
    for name in ("viewer", "stranger"):
        people[name] = users.create_user(
            serving_platform,
            None,
            username=name,
            password="correct horse battery",
            email=f"{name}@example.org",
        )
    projects.set_collaborator(serving_platform, modeler_principal, project.id, "viewer", "viewer")
    viewer = _api_key(serving_platform, people["viewer"])
    stranger = _api_key(serving_platform, people["stranger"])
    seen = serving_client.get(f"/api/v2/projects/{project.id}/amp", headers=viewer)
    assert seen.status_code == 200 and seen.json()["status"] == "failed"
    refused = serving_client.post(f"/api/v2/projects/{project.id}/amp:retry", headers=viewer)
    assert refused.status_code == 403, refused.text
    hidden = serving_client.get(f"/api/v2/projects/{project.id}/amp", headers=stranger)
    assert hidden.status_code == 404
    with serving_platform.read() as uow:
        events, _ = uow.audit.query(project_id=project.id, action_prefix="amp.retry")
    assert [(e.actor, e.outcome.value) for e in events] == [("viewer", "denied")]


def test_an_unreachable_git_url_fails_fast_naming_the_host(
    serving_client: TestClient, serving_platform: Platform, modeler: User
) -> None:
    import time

    headers = _api_key(serving_platform, modeler)
    began = time.monotonic()
    made = serving_client.post(
        "/api/v2/projects",
        json={"name": "Far", "template": "amp", "git_url": "https://amps.example.invalid/x.git"},
        headers=headers,
    )
    assert made.status_code == 400, made.text
    assert "amps.example.invalid" in made.json()["message"]
    assert time.monotonic() - began < 30
    assert serving_client.get("/api/v2/projects", headers=headers).json()["projects"] == []


def test_an_amp_from_an_uploaded_archive(
    serving_client: TestClient,
    serving_platform: Platform,
    modeler: User,
    modeler_principal: Principal,
    tmp_path: Any,
) -> None:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in FLAKY.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    headers = _api_key(serving_platform, modeler)
    made = serving_client.post(
        "/api/v2/projects:upload",
        data={"name": "Uploaded AMP", "template": "amp"},
        files={"file": ("amp.tar.gz", buffer.getvalue(), "application/gzip")},
        headers=headers,
    )
    assert made.status_code == 200, made.text
    body = made.json()
    assert body["creation_status"] == "creating"
    assert [t["type"] for t in body["amp"]["tasks"]] == [
        "create_job",
        "run_job",
        "create_job",
        "run_job",
        "run_session",
    ]
    # A bad file in an archive is refused as from git, and no project is left.
    broken = FLAKY[".project-metadata.yaml"].replace("type: run_session", "type: nap")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(".project-metadata.yaml")
        info.size = len(broken.encode())
        tar.addfile(info, io.BytesIO(broken.encode()))
    refused = serving_client.post(
        "/api/v2/projects:upload",
        data={"name": "Broken AMP", "template": "amp"},
        files={"file": ("amp.tar.gz", buffer.getvalue(), "application/gzip")},
        headers=headers,
    )
    assert refused.status_code == 400
    assert "unknown task type 'nap'" in refused.json()["message"]
    names = [
        p["name"]
        for p in serving_client.get("/api/v2/projects", headers=headers).json()["projects"]
    ]
    assert names == ["Uploaded AMP"]
