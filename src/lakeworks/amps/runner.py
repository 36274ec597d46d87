"""Run an AMP's tasks in order (compat spec §10.4), persisted so a restart resumes.

The scheduler's tick calls ``advance_all``: each running setup moves its current task one step
(start it, or look whether what it waits on has finished). A failed task stops the setup with
the reason; ``retry`` puts that task back to pending and ``skip`` passes over it. Tasks act as
the setup's creator, through the ordinary services, so each thing they make is audited as
that person's action.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from lakeworks import safe_paths
from lakeworks.amps import spec as amp_spec
from lakeworks.amps import tasks
from lakeworks.entities.amps import DONE, AmpSetup, AmpTask, SetupStatus, TaskStatus
from lakeworks.entities.projects import CreationStatus, ProjectSource
from lakeworks.errors import InvalidInput, InvalidState, LakeworksError, NotFound
from lakeworks.services import gitsource, projects
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal

log = logging.getLogger(__name__)


def read_spec(platform: Platform, project_id: str) -> amp_spec.AmpSpec:
    """Parse the project's ``.project-metadata.yaml`` (``InvalidInput`` when absent or bad)."""
    root = platform.settings.projects_dir / project_id
    if not safe_paths.is_file(root, amp_spec.FILE_NAME):
        raise InvalidInput(f"The project has no {amp_spec.FILE_NAME} at its root.")
    data = safe_paths.read_bytes(root, amp_spec.FILE_NAME, max_bytes=amp_spec.MAX_FILE_BYTES)
    return amp_spec.parse(data)


def variable_values(amp: amp_spec.AmpSpec, given: Mapping[str, object]) -> dict[str, str]:
    """Each declared variable's final value (the caller's, else the default); a required one
    left empty is refused, naming every such variable."""
    values = {}
    missing = []
    for var in amp.environment_variables:
        value = given.get(var.name)
        final = var.default if value is None else str(value)
        if var.required and not final.strip():
            missing.append(var.name)
        values[var.name] = final
    if missing:
        raise InvalidInput(
            f"The AMP needs a value for {', '.join(missing)} "
            "(declared required in environment_variables)."
        )
    return values


def start(
    platform: Platform,
    principal: Principal,
    project_id: str,
    amp: amp_spec.AmpSpec,
    environment: Mapping[str, object] | None = None,
) -> AmpSetup:
    """Record the setup, apply the AMP's variables to the project, and queue its first task."""
    # API v2 lets a variable be {"value": ..., "secret": ...}; the value is what counts here.
    given = {
        k: (v.get("value") if isinstance(v, Mapping) else v) for k, v in (environment or {}).items()
    }
    values = variable_values(amp, given)
    extra = {k: str(v) for k, v in given.items() if k not in values and v is not None}
    with platform.read() as uow:
        require(uow, principal, project_id, Action.CHANGE_SETTINGS)
        if uow.amps.get(project_id) is not None:
            raise InvalidState("This project already has an AMP setup.")
    warnings = list(amp.warnings)
    runtime_identifier = ""
    if amp.runtimes:
        # §10.1: runtimes[0] is every task's runtime; one not offered here is replaced by the
        # closest one, with a warning on the setup (as CML does).
        wanted = amp.runtimes[0]
        runtime_identifier = platform.runtimes.catalog.resolve_kernel(
            wanted.kernel, editor=wanted.editor, edition=wanted.edition, warn=warnings.append
        ).image_identifier
    # Variables first: §10.4 wants them in place before the first task runs.
    if values or extra:
        tasks.set_project_env(platform, principal, project_id, values | extra)
    with platform.command(principal, "amp.start", target=amp.name, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.CHANGE_SETTINGS)
        setup = cmd.uow.amps.add(
            project_id=project_id,
            name=amp.name,
            creator_id=principal.user.id,
            runtime_identifier=runtime_identifier,
            warnings=warnings,
            tasks=[
                {
                    "position": t.position,
                    "type": t.type,
                    "title": t.title,
                    "line": t.line,
                    "fields": t.fields,
                }
                for t in amp.tasks
            ],
        )
        cmd.uow.projects.set_creation_status(project_id, CreationStatus.CREATING, "")
        cmd.detail = {"tasks": len(amp.tasks), "variables": sorted(values)}
    platform.nudge()
    return setup


def get(platform: Platform, principal: Principal, project_id: str) -> AmpSetup:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        setup = uow.amps.get(project_id)
    if setup is None:
        raise NotFound("This project has no AMP setup.")
    return setup


def find(platform: Platform, principal: Principal, project_id: str) -> AmpSetup | None:
    """The project's setup, or None when it has none (the caller may read the project)."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return uow.amps.get(project_id)


def _failed_task(setup: AmpSetup) -> AmpTask:
    if setup.status is not SetupStatus.FAILED:
        raise InvalidState(
            f"The AMP setup is {setup.status.value}; only a failed setup can be retried or skipped."
        )
    for task in setup.tasks:
        if task.status is TaskStatus.FAILED:
            return task
    raise InvalidState("The AMP setup has no failed task.")


def retry(platform: Platform, principal: Principal, project_id: str) -> AmpSetup:
    """Run the failed task again, then go on from it."""
    return _resume(platform, principal, project_id, TaskStatus.PENDING, "amp.retry")


def skip(platform: Platform, principal: Principal, project_id: str) -> AmpSetup:
    """Pass over the failed task and go on with the next one."""
    return _resume(platform, principal, project_id, TaskStatus.SKIPPED, "amp.skip")


def _resume(
    platform: Platform, principal: Principal, project_id: str, to: TaskStatus, action: str
) -> AmpSetup:
    with platform.command(principal, action, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.CHANGE_SETTINGS)
        setup = cmd.uow.amps.get(project_id)
        if setup is None:
            raise NotFound("This project has no AMP setup.")
        task = _failed_task(setup)
        moved = cmd.uow.amps.move_task(project_id, task.position, TaskStatus.FAILED, to)
        resumed = cmd.uow.amps.set_setup(project_id, SetupStatus.FAILED, SetupStatus.RUNNING, "")
        if not (moved and resumed):
            raise InvalidState("The AMP setup changed meanwhile; reload and try again.")
        cmd.uow.projects.set_creation_status(project_id, CreationStatus.CREATING, "")
        cmd.target = f"task {task.position + 1}: {task.title}"
        cmd.detail = {"task": task.position, "type": task.type}
        result = cmd.uow.amps.get(project_id)
        assert result is not None
    platform.nudge()
    return result


# Driving (the scheduler's tick) -----------------------------------------------------------


def advance_all(platform: Platform) -> None:
    with platform.read() as uow:
        project_ids = uow.amps.running_project_ids()
    for project_id in project_ids:
        advance(platform, project_id)


def advance(platform: Platform, project_id: str) -> None:
    """Move one setup as far as it can go now without waiting. Idempotent."""
    while True:
        with platform.read() as uow:
            setup = uow.amps.get(project_id)
            creator = uow.users.get(setup.creator_id) if setup else None
        if setup is None or setup.status is not SetupStatus.RUNNING:
            return
        current = next((t for t in setup.tasks if t.status not in DONE), None)
        if current is None:
            _finish(platform, setup, SetupStatus.SUCCEEDED, "")
            return
        if creator is None or not creator.is_active:
            _fail(platform, setup, current, "The AMP's creator no longer has an active account.")
            return
        if current.status is TaskStatus.FAILED:  # a setup resumed elsewhere, not yet moved
            return
        if not _step(platform, Principal(user=creator, via="amp"), setup, current):
            return


def _step(platform: Platform, who: Principal, setup: AmpSetup, current: AmpTask) -> bool:
    """Move the current task on; True when the next one may go at once."""
    if current.status is TaskStatus.PENDING:
        return _claim(platform, current) and _begin(platform, who, setup, current)
    # Running: a task whose start was interrupted (nothing recorded) starts again.
    if not current.entity_id and not current.tracked_id:
        return not platform.is_launching(_key(current)) and _begin(platform, who, setup, current)
    outcome = tasks.poll(platform, current)
    if outcome is None:
        return False
    if outcome:
        _fail(platform, setup, current, outcome)
        return False
    _complete(platform, current)
    return True


def _key(task: AmpTask) -> str:
    return f"amp:{task.project_id}:{task.position}"


def _claim(platform: Platform, task: AmpTask) -> bool:
    with platform.store.transaction() as uow:
        return uow.amps.move_task(
            task.project_id,
            task.position,
            TaskStatus.PENDING,
            TaskStatus.RUNNING,
            attempts=task.attempts + 1,
        )


def _begin(platform: Platform, who: Principal, setup: AmpSetup, task: AmpTask) -> bool:
    """Start the task; True when it finished at once (the caller goes on to the next)."""
    try:
        with platform.launching(_key(task)):
            started = tasks.begin(platform, who, setup, task)
    except LakeworksError as exc:
        _fail(platform, setup, task, exc.message)
        return False
    with platform.store.transaction() as uow:
        uow.amps.record(
            task.project_id,
            task.position,
            entity_id=started.entity_id,
            tracked_id=started.tracked_id,
        )
    if started.done:
        _complete(platform, task)
        return True
    return False


def _complete(platform: Platform, task: AmpTask) -> None:
    with platform.store.transaction() as uow:
        uow.amps.move_task(task.project_id, task.position, TaskStatus.RUNNING, TaskStatus.SUCCEEDED)


def _fail(platform: Platform, setup: AmpSetup, task: AmpTask, reason: str) -> None:
    text = f"Task {task.position + 1} ({task.title}) failed: {reason}"
    with platform.command(
        None, "amp.fail", target=f"task {task.position + 1}", project_id=setup.project_id
    ) as cmd:
        amps = cmd.uow.amps
        # ``task`` may be stale (claimed since it was read): try the usual move first, and
        # through running for a task that failed before it could start.
        if not amps.move_task(
            task.project_id, task.position, TaskStatus.RUNNING, TaskStatus.FAILED, reason=reason
        ) and amps.move_task(
            task.project_id, task.position, TaskStatus.PENDING, TaskStatus.RUNNING
        ):
            amps.move_task(
                task.project_id, task.position, TaskStatus.RUNNING, TaskStatus.FAILED, reason=reason
            )
        cmd.uow.amps.set_setup(setup.project_id, SetupStatus.RUNNING, SetupStatus.FAILED, text)
        cmd.uow.projects.set_creation_status(setup.project_id, CreationStatus.FAILURE, text)
        cmd.detail = {"reason": reason}
    log.info("AMP setup of project %s stopped: %s", setup.project_id, text)


def _finish(platform: Platform, setup: AmpSetup, status: SetupStatus, reason: str) -> None:
    with platform.command(
        None, "amp.finish", target=setup.name, project_id=setup.project_id
    ) as cmd:
        if cmd.uow.amps.set_setup(setup.project_id, SetupStatus.RUNNING, status, reason):
            cmd.uow.projects.set_creation_status(setup.project_id, CreationStatus.SUCCESS, "")


# Projects made from AMPs ------------------------------------------------------------------


def create_project(
    platform: Platform,
    principal: Principal,
    *,
    name: str,
    git_url: str = "",
    git_ref: str = "",
    archive: Path | None = None,
    directory: Path | None = None,
    description: str = "",
    visibility: str = "private",
    team_name: str = "",
    environment: Mapping[str, object] | None = None,
    shared_memory_limit: int = 64,
) -> AmpSetup:
    """Create a project from the AMP at ``git_url`` (a remote, or a repository on this
    server's disk), in an uploaded ``archive`` or in a ``directory`` of this server (an AMP of
    the catalog; never a path from user input), and start its setup. A missing or bad
    ``.project-metadata.yaml``, or a required variable without a value, refuses the whole
    thing: the project is removed again.
    """
    if archive is not None:
        source = projects.ProjectSourceSpec(ProjectSource.ARCHIVE, archive=archive)
    elif directory is not None:
        source = projects.ProjectSourceSpec(ProjectSource.LOCAL, directory=directory)
    elif not git_url.strip():
        raise InvalidInput('An AMP project needs a git_url (template "amp").')
    else:
        source = projects.ProjectSourceSpec(
            ProjectSource.GIT, git_url=gitsource.check_url(git_url), git_ref=git_ref
        )
    project = projects.create(
        platform,
        principal,
        name=name,
        description=description,
        visibility=visibility,
        source=source,
        team_name=team_name,
        shared_memory_limit=shared_memory_limit,
    )
    try:
        amp = read_spec(platform, project.id)
        shm_mb = max(1, round(amp.shared_memory_limit_gb * 1024))
        if shm_mb != shared_memory_limit:
            # §10.1: the AMP's shared_memory_limit (GB) is /dev/shm for all its workloads.
            projects.update(platform, principal, project.id, shared_memory_limit=shm_mb)
        return start(platform, principal, project.id, amp, environment)
    except LakeworksError:
        projects.delete(platform, principal, project.id)
        raise


def start_from_project(
    platform: Platform,
    principal: Principal,
    project_id: str,
    environment: Mapping[str, object] | None = None,
) -> AmpSetup:
    """Turn an existing project that holds ``.project-metadata.yaml`` into an AMP setup."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.CHANGE_SETTINGS)
    return start(platform, principal, project_id, read_spec(platform, project_id), environment)
