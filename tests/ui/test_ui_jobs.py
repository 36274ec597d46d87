"""Jobs pages: the list, the create and edit form with its schedule reading, a pipeline of a
cron job and a dependent job, runs started and stopped by hand, and what each role sees."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from conftest import PASSWORD, login
from lakeworks.config import Settings
from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.entities.workloads import Resources, WorkloadKind
from lakeworks.services import job_runs, jobs, projects
from lakeworks.services.platform import Platform, Principal


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


@pytest.fixture
def project(platform: Platform, settings: Settings, alice: User) -> Project:
    created = projects.create(
        platform,
        Principal(user=alice, via="cli"),
        name="Pipelines",
        source=projects.parse_source("blank", ""),
    )
    root = settings.projects_dir / created.id
    (root / "etl").mkdir()
    (root / "etl" / "extract.py").write_text("print('extract')\n")
    (root / "train.py").write_text("print('train')\n")
    (root / "notes.txt").write_text("not a script\n")
    (root / ".lakeworks").mkdir(exist_ok=True)
    (root / ".lakeworks" / "hidden.py").write_text("")
    return created


@pytest.fixture
def token(client: TestClient, alice: User) -> str:
    return login(client, "alice")


def job_form(token: str, **values: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": token,
        "name": "Train",
        "script": "train.py",
        "arguments": "",
        "profile": "small",
        "cpu": "1",
        "memory_gib": "2",
        "timeout_minutes": "0",
        "kill_on_timeout": "1",
        "kind": "manual",
        "schedule": "",
        "timezone": "UTC",
        "parent_id": "",
        "env_name": [""],
        "env_value": [""],
        "rcpt_email": [""],
    }
    form.update(values)
    return form


def create(client: TestClient, project: Project, token: str, **values: Any) -> str:
    """Create a job through the form; return its id."""
    response = client.post(
        f"/projects/{project.id}/jobs/new",
        data=job_form(token, **values),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    found = re.fullmatch(rf"/projects/{project.id}/jobs/([a-z0-9-]+)", response.headers["location"])
    assert found
    return found.group(1)


def only_job(platform: Platform, user: User, project: Project, job_id: str) -> Any:
    return jobs.get(platform, Principal(user=user, via="cli"), project.id, job_id)


def test_empty_list_invites_to_create(client: TestClient, project: Project, token: str) -> None:
    page = client.get(f"/projects/{project.id}/jobs")
    assert page.status_code == 200
    assert "No jobs yet" in page.text
    assert f'href="/projects/{project.id}/jobs/new"' in page.text
    assert 'class="tab active" aria-current="page">Jobs<' in page.text


def test_form_offers_the_project_scripts(client: TestClient, project: Project, token: str) -> None:
    page = client.get(f"/projects/{project.id}/jobs/new").text
    scripts = re.findall(
        r'<option value="([^"]+)"></option>',
        page.split('<datalist id="job-scripts">')[1].split("</datalist>")[0],
    )
    assert scripts[:2] == ["train.py", "etl/extract.py"]
    assert "notes.txt" not in page and "hidden.py" not in page
    assert 'value="America/Los_Angeles"' in page  # the default time zone
    assert "small · 1 vCPU, 2 GiB" in page


def test_create_manual_job_with_env_and_recipients(
    client: TestClient, platform: Platform, alice: User, project: Project, token: str
) -> None:
    job_id = create(
        client,
        project,
        token,
        name="Extract",
        script="etl/extract.py",
        arguments="--day today",
        profile="custom",
        cpu="0.5",
        memory_gib="1.5",
        timeout_minutes="90",
        env_name=["SOURCE", "DROPPED", ""],
        env_value=["s3://raw", "x", ""],
        env_remove=["1"],
        rcpt_email=["ops@example.org", ""],
        rcpt_success=["0"],
        rcpt_failure=["0"],
    )
    job = only_job(platform, alice, project, job_id)
    assert (job.script, job.arguments, job.cpu, job.memory_mb) == (
        "etl/extract.py",
        "--day today",
        0.5,
        1536,
    )
    assert job.timeout_seconds == 90 * 60 and job.kill_on_timeout
    assert job.environment == {"SOURCE": "s3://raw"}
    assert [(r.email, r.on_success, r.on_failure, r.on_timeout) for r in job.recipients] == [
        ("ops@example.org", True, True, False)
    ]
    page = client.get(f"/projects/{project.id}/jobs/{job_id}").text
    assert "Job &#39;Extract&#39; created." in page
    assert "Manual" in page and "0.5 vCPU · 1.5 GiB" in page
    assert "1 h 30 min, then stopped" in page
    assert "SOURCE=s3://raw" in page and "ops@example.org" in page
    assert "No runs yet" in page


def test_cron_job_reads_in_english(
    client: TestClient, platform: Platform, alice: User, project: Project, token: str
) -> None:
    job_id = create(
        client, project, token, name="Every quarter hour", kind="cron", schedule="*/15 * * * *"
    )
    job = only_job(platform, alice, project, job_id)
    assert job.schedule == "*/15 * * * *" and job.next_fire_at is not None
    page = client.get(f"/projects/{project.id}/jobs/{job_id}").text
    assert "Every 15 minutes" in page
    assert "<code>*/15 * * * *</code>" in page
    listing = client.get(f"/projects/{project.id}/jobs").text
    assert "Every 15 minutes" in listing and "*/15 * * * *" in listing
    assert re.search(r'<time datetime="[^"]+" title="[^"]+ UTC">in [^<]+</time>', listing)


def test_invalid_cron_is_refused_keeping_the_input(
    client: TestClient, project: Project, token: str
) -> None:
    response = client.post(
        f"/projects/{project.id}/jobs/new",
        data=job_form(
            token,
            name="Broken",
            kind="cron",
            schedule="61 * * * *",
            env_name=["KEEP", ""],
            env_value=["me", ""],
        ),
    )
    assert response.status_code == 400
    assert "is not a valid cron schedule" in response.text
    assert 'value="Broken"' in response.text and 'value="61 * * * *"' in response.text
    assert 'value="KEEP"' in response.text and 'value="me"' in response.text
    assert 'id="kind-cron" checked' in response.text
    assert "No jobs yet" in client.get(f"/projects/{project.id}/jobs").text


def test_recurring_needs_a_schedule_and_dependent_a_parent(
    client: TestClient, project: Project, token: str
) -> None:
    response = client.post(
        f"/projects/{project.id}/jobs/new", data=job_form(token, kind="cron", schedule=" ")
    )
    assert response.status_code == 400 and "Give a cron schedule" in response.text
    response = client.post(
        f"/projects/{project.id}/jobs/new", data=job_form(token, kind="dependent")
    )
    assert response.status_code == 400 and "Choose the parent job" in response.text


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"script": "missing.py"}, "does not exist in the project"),
        ({"script": "notes.txt"}, "is not a script Lakeworks can run"),
        ({"script": ""}, "A job needs a script"),
        ({"name": " "}, "A job needs a name"),
        ({"profile": "custom", "cpu": "lots"}, "CPU must be a number"),
        ({"profile": "custom", "memory_gib": "nan"}, "Memory must be a number"),
        ({"timeout_minutes": "soon"}, "The timeout is a number of minutes"),
        ({"timezone": "Mars/Olympus"}, "is not a time zone"),
        ({"env_name": ["1BAD"], "env_value": ["x"]}, "is not a valid environment variable"),
        ({"rcpt_email": ["nobody"]}, "is not an email address"),
    ],
)
def test_bad_input_is_a_400_saying_why(
    client: TestClient, project: Project, token: str, values: dict[str, Any], message: str
) -> None:
    response = client.post(f"/projects/{project.id}/jobs/new", data=job_form(token, **values))
    assert response.status_code == 400
    assert message in response.text.replace("&#39;", "'")


def test_describe_endpoint(client: TestClient, project: Project, token: str) -> None:
    url = f"/projects/{project.id}/jobs:describe"
    good = client.get(url, params={"cron": "0 9 * * 1-5", "timezone": "Europe/Madrid"}).json()
    assert good["valid"] is True and good["error"] is None
    assert good["text"] == "At 09:00, Monday through Friday"
    assert good["next"].endswith(("CET", "CEST")) and " 09:00 " in good["next"]
    bad = client.get(url, params={"cron": "0 9 * *"}).json()
    assert bad["valid"] is False and bad["text"] == ""
    assert "needs 5 fields" in bad["error"]


def test_describe_needs_access_to_the_project(
    client: TestClient, project: Project, make_user: Callable[..., User]
) -> None:
    make_user("mallory")
    login(client, "mallory")
    response = client.get(f"/projects/{project.id}/jobs:describe", params={"cron": "* * * * *"})
    assert response.status_code == 404


def test_pipeline_parent_to_child(
    client: TestClient, platform: Platform, alice: User, project: Project, token: str
) -> None:
    parent_id = create(
        client, project, token, name="Nightly extract", kind="cron", schedule="0 2 * * *"
    )
    child_id = create(client, project, token, name="Retrain", kind="dependent", parent_id=parent_id)
    assert only_job(platform, alice, project, child_id).parent_id == parent_id

    child_page = client.get(f"/projects/{project.id}/jobs/{child_id}").text
    chain = child_page.split('class="chain"')[1].split("</section>")[0]
    assert chain.index("Nightly extract") < chain.index("→") < chain.index("Retrain")
    assert 'class="chain-box current"' in chain.split("→")[1]
    assert (
        f'href="/projects/{project.id}/jobs/{parent_id}">Nightly extract</a> succeeds' in child_page
    )

    parent_page = client.get(f"/projects/{project.id}/jobs/{parent_id}").text
    chain = parent_page.split('class="chain"')[1].split("</section>")[0]
    assert chain.index("Nightly extract") < chain.index("→") < chain.index("Retrain")

    listing = client.get(f"/projects/{project.id}/jobs").text
    assert "Nightly extract" in listing and "Retrain" in listing
    assert "At 02:00" in listing

    form = client.get(f"/projects/{project.id}/jobs/{child_id}/edit").text
    assert f'<option value="{parent_id}" selected>' in form
    assert f'<option value="{child_id}"' not in form  # not its own parent


def test_every_job_of_a_pipeline_draws_the_whole_pipeline(
    client: TestClient, project: Project, token: str
) -> None:
    """A → B → C, and D after B too: each of the four pages draws A, B, then C and D."""
    a = create(client, project, token, name="Extract")
    b = create(client, project, token, name="Train", kind="dependent", parent_id=a)
    c = create(client, project, token, name="Evaluate", kind="dependent", parent_id=b)
    d = create(client, project, token, name="Publish", kind="dependent", parent_id=b)
    for current, name in ((a, "Extract"), (b, "Train"), (c, "Evaluate"), (d, "Publish")):
        page = client.get(f"/projects/{project.id}/jobs/{current}").text
        chain = page.split('class="chain"')[1].split("</section>")[0]
        stages = [re.findall(r'data-chain-job="([^"]+)"', part) for part in chain.split("→")]
        assert stages == [["Extract"], ["Train"], ["Evaluate", "Publish"]], name
        assert re.search(rf'class="chain-box current"[^>]*data-chain-job="{name}"', chain)
        assert chain.count("chain-box current") == 1
        assert "not part of a pipeline" not in page


def test_cycle_is_refused_on_edit(client: TestClient, project: Project, token: str) -> None:
    first = create(client, project, token, name="First")
    second = create(client, project, token, name="Second", kind="dependent", parent_id=first)
    response = client.post(
        f"/projects/{project.id}/jobs/{first}/edit",
        data=job_form(token, name="First", kind="dependent", parent_id=second),
    )
    assert response.status_code == 400
    assert "would make a cycle" in response.text


def test_pipeline_stop_is_shown_on_the_child(
    client: TestClient, platform: Platform, alice: User, project: Project, token: str
) -> None:
    parent_id = create(client, project, token, name="Extract")
    child_id = create(client, project, token, name="Load", kind="dependent", parent_id=parent_id)
    run = job_runs.trigger(platform, Principal(user=alice, via="cli"), project.id, parent_id)
    job_runs.stop_run(platform, Principal(user=alice, via="cli"), project.id, parent_id, run.id)
    page = client.get(f"/projects/{project.id}/jobs/{child_id}").text
    assert "The pipeline stopped at" in page and "its last run stopped" in page


def test_edit_changes_the_job(
    client: TestClient, platform: Platform, alice: User, project: Project, token: str
) -> None:
    job_id = create(client, project, token, name="Train", kind="cron", schedule="0 9 * * *")
    form = client.get(f"/projects/{project.id}/jobs/{job_id}/edit").text
    assert 'value="0 9 * * *"' in form and "At 09:00" in form
    assert '<option value="small" ' in form and "selected>small" in form
    response = client.post(
        f"/projects/{project.id}/jobs/{job_id}/edit",
        data=job_form(token, name="Train weekly", kind="cron", schedule="30 6 * * 1", paused="1"),
    )
    assert "Job &#39;Train weekly&#39; saved." in response.text
    job = only_job(platform, alice, project, job_id)
    assert (job.name, job.schedule, job.paused) == ("Train weekly", "30 6 * * 1", True)
    listing = client.get(f"/projects/{project.id}/jobs").text
    assert "At 06:30, only on Monday" in listing and ">paused<" in listing
    # Back to manual: the schedule is dropped.
    client.post(
        f"/projects/{project.id}/jobs/{job_id}/edit",
        data=job_form(token, name="Train weekly", kind="manual", schedule="30 6 * * 1"),
    )
    job = only_job(platform, alice, project, job_id)
    assert (job.schedule_kind.value, job.schedule, job.next_fire_at) == ("manual", "", None)


def test_run_now_conflict_and_stop(
    client: TestClient, platform: Platform, alice: User, project: Project, token: str
) -> None:
    job_id = create(client, project, token, name="Train")
    response = client.post(
        f"/projects/{project.id}/jobs/{job_id}/run",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    run_url = response.headers["location"]
    run_id = run_url.rsplit("/", 1)[1]
    page = client.get(run_url).text
    assert f"Run {run_id} is scheduled" in page
    assert 'status-scheduled" data-run-status>scheduled<' in page
    assert "Run by hand" in page and "by alice" in page
    assert f'data-log-url="/api/v2/projects/{project.id}/jobs/{job_id}/runs/{run_id}/logs"' in page
    assert 'data-follow="true"' in page
    assert "No output yet" in page
    assert " Stop</button>" in page

    again = client.post(
        f"/projects/{project.id}/jobs/{job_id}/run",
        data={"csrf_token": token, "next": f"/projects/{project.id}/jobs"},
    )
    assert again.url.path == f"/projects/{project.id}/jobs"
    assert f"Run {run_id} of job &#39;Train&#39; is still scheduled" in again.text
    assert "alert-error" in again.text

    job_page = client.get(f"/projects/{project.id}/jobs/{job_id}").text
    assert f">{run_id}</a>" in job_page and "status-scheduled" in job_page

    stopped = client.post(f"{run_url}/stop", data={"csrf_token": token})
    assert f"Run {run_id} was stopped before it started." in stopped.text
    assert 'status-stopped" data-run-status>stopped<' in stopped.text
    assert "stopped by alice" in stopped.text
    assert 'data-follow="false"' in stopped.text and " Stop</button>" not in stopped.text
    run = job_runs.get_run(platform, Principal(user=alice, via="cli"), project.id, job_id, run_id)
    assert run.status is RunStatus.STOPPED
    # Stopping again says it already ended.
    twice = client.post(f"{run_url}/stop", data={"csrf_token": token})
    assert "already ended" in twice.text
    # A new run may start now.
    client.post(f"/projects/{project.id}/jobs/{job_id}/run", data={"csrf_token": token})
    runs = job_runs.list_runs(platform, Principal(user=alice, via="cli"), project.id, job_id)
    assert [r.status for r in runs] == [RunStatus.STOPPED, RunStatus.SCHEDULED]


def test_run_page_shows_the_log_so_far(
    client: TestClient,
    platform: Platform,
    alice: User,
    project: Project,
    token: str,
    tmp_path: Path,
) -> None:
    job_id = create(client, project, token)
    run = job_runs.trigger(platform, Principal(user=alice, via="cli"), project.id, job_id)
    log = tmp_path / "run.log"
    log.write_text("epoch 1 <loss=0.5>\n")
    with platform.store.transaction() as uow:
        # A stand-in for a started workload: only its log file matters to the page.
        workload = uow.workloads.add(
            workload_id="wl-test",
            kind=WorkloadKind.JOB_RUN,
            project_id=project.id,
            user_id=alice.id,
            executor="local",
            log_path=str(log),
            resources=Resources(cpu=1.0, memory_mb=2048),
        )
        uow.jobs.set_run(run.id, workload_id=workload.id)
    page = client.get(f"/projects/{project.id}/jobs/{job_id}/runs/{run.id}").text
    assert "epoch 1 &lt;loss=0.5&gt;\n</pre>" in page
    assert f'data-offset="{len(log.read_bytes())}"' in page


def test_delete_job(client: TestClient, platform: Platform, project: Project, token: str) -> None:
    parent_id = create(client, project, token, name="Extract")
    create(client, project, token, name="Load", kind="dependent", parent_id=parent_id)
    page = client.get(f"/projects/{project.id}/jobs/{parent_id}").text
    assert "Its 1 dependent job will run only by hand." in page
    response = client.post(
        f"/projects/{project.id}/jobs/{parent_id}/delete", data={"csrf_token": token}
    )
    assert response.url.path == f"/projects/{project.id}/jobs"
    assert "Job &#39;Extract&#39; was deleted." in response.text
    assert "Load" in response.text and "Manual" in response.text


def test_all_jobs_page_lists_jobs_of_my_projects(
    client: TestClient,
    platform: Platform,
    project: Project,
    token: str,
    make_user: Callable[..., User],
) -> None:
    empty = client.get("/jobs")
    assert empty.status_code == 200 and "No jobs yet" in empty.text
    assert 'aria-current="page"' in empty.text  # the Jobs navigation entry
    job_id = create(client, project, token, name="Nightly", kind="cron", schedule="0 3 * * *")
    bob = make_user("bob")
    other = projects.create(
        platform,
        Principal(user=bob, via="cli"),
        name="Bob's",
        source=projects.parse_source("blank", ""),
    )
    page = client.get("/jobs").text
    assert f'href="/projects/{project.id}/jobs/{job_id}">Nightly</a>' in page
    assert f'href="/projects/{project.id}/jobs">Pipelines</a>' in page
    assert "At 03:00" in page and "never run" in page
    assert other.id not in page


def add_member(platform: Platform, owner: User, project: Project, name: str, role: str) -> None:
    projects.set_collaborator(platform, Principal(user=owner, via="cli"), project.id, name, role)


def test_viewer_sees_no_controls_and_cannot_run(
    client: TestClient,
    platform: Platform,
    alice: User,
    project: Project,
    token: str,
    make_user: Callable[..., User],
) -> None:
    job_id = create(client, project, token, name="Train")
    make_user("vera")
    add_member(platform, alice, project, "vera", "viewer")
    client.cookies.clear()
    vera_token = login(client, "vera")
    listing = client.get(f"/projects/{project.id}/jobs").text
    assert "Train" in listing
    assert "/run" not in listing
    # "New job" is shown disabled, with the reason (issue 13 #12), and leads nowhere.
    assert f"/projects/{project.id}/jobs/new" not in listing
    assert re.search(
        r"disabled title=\"Your role here is viewer: [^\"]*\">.*New job</button>", listing
    )
    page = client.get(f"/projects/{project.id}/jobs/{job_id}").text
    for control in ("Run now", "/edit", "/delete", "Add a job after this one"):
        assert control not in page
    refused = client.post(
        f"/projects/{project.id}/jobs/{job_id}/run", data={"csrf_token": vera_token}
    )
    assert refused.status_code == 403
    assert "you need operator or above" in refused.text
    assert client.get(f"/projects/{project.id}/jobs/new").status_code == 403
    assert client.get(f"/projects/{project.id}/jobs/{job_id}/edit").status_code == 403
    missing_csrf = client.post(f"/projects/{project.id}/jobs/{job_id}/run")
    assert missing_csrf.status_code == 403


def test_operator_runs_but_does_not_edit(
    client: TestClient,
    platform: Platform,
    alice: User,
    project: Project,
    token: str,
    make_user: Callable[..., User],
) -> None:
    job_id = create(client, project, token, name="Train")
    make_user("otto")
    add_member(platform, alice, project, "otto", "operator")
    client.cookies.clear()
    otto_token = login(client, "otto")
    listing = client.get(f"/projects/{project.id}/jobs").text
    assert "Run Train now" in listing and f"/projects/{project.id}/jobs/new" not in listing
    assert re.search(
        r"disabled title=\"Your role here is operator: [^\"]*\">.*New job</button>", listing
    )
    page = client.get(f"/projects/{project.id}/jobs/{job_id}").text
    assert "Run now" in page and "/edit" not in page and "/delete" not in page
    ran = client.post(f"/projects/{project.id}/jobs/{job_id}/run", data={"csrf_token": otto_token})
    assert ran.status_code == 200 and "is scheduled" in ran.text and " Stop</button>" in ran.text
    refused = client.post(
        f"/projects/{project.id}/jobs/{job_id}/edit", data=job_form(otto_token, name="Mine")
    )
    assert refused.status_code == 403
    assert "you need contributor or above" in refused.text
    deleted = client.post(
        f"/projects/{project.id}/jobs/{job_id}/delete", data={"csrf_token": otto_token}
    )
    assert deleted.status_code == 403


def test_unknown_job_and_run_are_404(client: TestClient, project: Project, token: str) -> None:
    assert client.get(f"/projects/{project.id}/jobs/nope").status_code == 404
    job_id = create(client, project, token)
    assert client.get(f"/projects/{project.id}/jobs/{job_id}/runs/nope").status_code == 404


@pytest.mark.browser
def test_browser_schedule_builder_pipeline_and_live_log(
    page: Page,
    live_server: str,
    platform: Platform,
    alice: User,
    project: Project,
    tmp_path: Path,
) -> None:
    base = live_server
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/projects/{project.id}/jobs")
    page.get_by_role("link", name="New job").first.click()

    # A recurring job built with the schedule builder; the reading follows every change.
    page.get_by_label("Name", exact=True).fill("Extract")
    page.locator("input[name=script]").fill("etl/extract.py")
    page.get_by_text("Recurring").click()
    cron_input = page.get_by_label("Cron expression")
    reading = page.locator("[data-cron-reading]")
    expect(cron_input).to_have_value("0 9 * * *")
    expect(reading).to_contain_text("At 09:00")
    page.get_by_label("Repeat").select_option("minutes")
    page.get_by_label("Every how many minutes").fill("15")
    expect(cron_input).to_have_value("*/15 * * * *")
    expect(reading).to_contain_text("Every 15 minutes")
    expect(reading).to_contain_text("next run")
    page.get_by_label("Repeat").select_option("weekly")
    page.get_by_label("Day of the week").select_option("Friday")
    page.get_by_label("Time of day").fill("17:30")
    expect(cron_input).to_have_value("30 17 * * 5")
    expect(reading).to_contain_text("At 17:30, only on Friday")
    cron_input.fill("0 9 * * 1-5")
    expect(page.get_by_label("Repeat")).to_have_value("custom")
    expect(reading).to_contain_text("At 09:00, Monday through Friday")
    cron_input.fill("0 9 * *")
    expect(reading).to_contain_text("needs 5 fields")
    cron_input.fill("*/15 * * * *")
    expect(page.get_by_label("Repeat")).to_have_value("minutes")
    page.get_by_label("Time zone", exact=True).fill("UTC")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("status")).to_contain_text("Job 'Extract' created.")
    expect(page.locator(".job-head")).to_contain_text("Every 15 minutes")
    parent_url = page.url

    # A job that runs after it, from the pipeline card.
    page.get_by_role("link", name="Add a job after this one").click()
    expect(page.locator("#kind-dependent")).to_be_checked()
    page.get_by_label("Name", exact=True).fill("Train")
    page.locator("input[name=script]").fill("train.py")
    page.get_by_role("button", name="Create job").click()
    chain = page.locator(".chain")
    expect(chain.locator(".chain-box")).to_have_count(2)
    expect(chain.locator(".chain-box").first).to_contain_text("Extract")
    expect(chain.locator(".chain-box.current")).to_contain_text("Train")

    # Run the parent by hand and follow its log as it is written.
    page.goto(parent_url)
    page.get_by_role("button", name="Run Extract now").first.click()
    expect(page.get_by_role("status").first).to_contain_text("is scheduled")
    run_id = page.url.rsplit("/", 1)[1]
    log = tmp_path / "extract.log"
    log.write_text("reading rows\n")
    with platform.store.transaction() as uow:
        workload = uow.workloads.add(
            workload_id="wl-live",
            kind=WorkloadKind.JOB_RUN,
            project_id=project.id,
            user_id=alice.id,
            executor="local",
            log_path=str(log),
            resources=Resources(),
        )
        uow.jobs.set_run(run_id, workload_id=workload.id)
        uow.jobs.move_run(run_id, RunStatus.SCHEDULED, RunStatus.STARTING)
        uow.jobs.move_run(run_id, RunStatus.STARTING, RunStatus.RUNNING)
    pre = page.locator("pre.log")
    expect(pre).to_contain_text("reading rows")
    expect(page.locator(".job-head [data-run-status]")).to_have_text("running")
    with log.open("a") as out:
        out.write("wrote 42 rows\n")
    expect(pre).to_contain_text("reading rows\nwrote 42 rows")
    with platform.store.transaction() as uow:
        uow.jobs.move_run(run_id, RunStatus.RUNNING, RunStatus.SUCCEEDED, exit_code=0)
    # The page reloads once when the run ends, showing the final status and no Stop button.
    expect(page.locator(".job-head [data-run-status]")).to_have_text("succeeded")
    expect(page.locator("pre.log[data-follow=false]")).to_contain_text("wrote 42 rows")
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
