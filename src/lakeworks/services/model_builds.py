"""Model builds: an immutable snapshot of the project plus its built environment (CML compat
§1.5, §5.5, §7).

A build snapshots the project tree now (``.gitignore`` honoured, ``.git`` and platform folders
left out, a size limit), then the scheduler runs it as a ``MODEL_BUILD`` workload in the
snapshot: ``bash cdsw-build.sh`` when the file exists, else ``pip install -r
requirements.txt`` when that exists. ``pip`` installs land in the snapshot's ``.local`` (the
runtime's user site), which is the build environment; it is cached by a hash of the runtime
and the build inputs, so an unchanged ``requirements.txt`` is not installed twice. Statuses:
``pending`` → ``building`` → ``built`` | ``build failed`` (| ``stopped``).

A build from a registry version copies the MLflow model directory into the snapshot, installs
the model's own requirements (its ``requirements.txt``, else the pip part of its
``conda.yaml``) and checks that it loads; its replicas serve it with a generated scorer.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from lakeworks import safe_paths
from lakeworks.entities.models import BuildStatus, ModelBuild
from lakeworks.entities.workloads import Resources, WorkloadKind, WorkloadStatus
from lakeworks.errors import InvalidInput, LakeworksError, NotFound, PayloadTooLarge
from lakeworks.services import environment, files, workloads
from lakeworks.services.models import model_of
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.tables import utcnow

log = logging.getLogger(__name__)

# Never part of a snapshot: version control, the platform's own state, the project's
# session-time installs (a build gets its packages from cdsw-build.sh / requirements.txt).
EXCLUDED_TOP = frozenset({".git", ".lakeworks", ".local", ".cache", ".ipynb_checkpoints"})
MLFLOW_DIR = "mlflow_model"
GIT_LIST_TIMEOUT = 60.0  # listing a project for a snapshot, .gitignore applied
BUILD_RESOURCES = Resources(cpu=1.0, memory_mb=4096)

# Runs in the snapshot (/home/cdsw). $1: build script path, $2: the cached environment's id
# or "", $3: a Python check to run last, $4: the MLflow model directory of a registry build.
_BUILD_COMMAND = r"""
set -u
script="$1"; cached="$2"; check="$3"; model_dir="$4"
cd "$HOME" 2>/dev/null || true
if [ -f "$script" ]; then
  echo "Running $script"
  tr -d '\r' < "$script" > /tmp/lakeworks-build.sh
  bash /tmp/lakeworks-build.sh || { code=$?; echo "$script exited with $code"; exit "$code"; }
elif [ -f requirements.txt ]; then
  if [ -n "$cached" ]; then
    echo "requirements.txt: environment $cached reused from the build cache"
  else
    echo "Installing requirements.txt"
    python -m pip install -r requirements.txt || exit $?
  fi
elif [ -z "$model_dir" ]; then
  echo "No $script or requirements.txt: the runtime's packages are the environment"
fi
if [ -n "$model_dir" ]; then
  # The MLflow model's own requirements (CML installs them): requirements.txt, else the pip
  # section of conda.yaml. Paths in them are relative to the model directory, as logged.
  if [ -f "$model_dir/requirements.txt" ]; then
    model_reqs=requirements.txt
  elif [ -f "$model_dir/conda.yaml" ]; then
    model_reqs=/tmp/lakeworks-conda-pip.txt
    python - "$model_dir/conda.yaml" > "$model_reqs" <<'PY' || exit $?
import sys, yaml
with open(sys.argv[1]) as handle:
    env = yaml.safe_load(handle) or {}
for dep in env.get("dependencies") or []:
    if isinstance(dep, dict):
        for line in dep.get("pip") or []:
            print(line)
PY
  else
    model_reqs=""
  fi
  if [ -z "$model_reqs" ]; then
    echo "The MLflow model lists no requirements: the runtime's packages are the environment"
  elif [ -n "$cached" ]; then
    echo "MLflow model requirements: environment $cached reused from the build cache"
  else
    echo "Installing the MLflow model's requirements ($model_dir: ${model_reqs##*/})"
    (cd "$model_dir" && python -m pip install -r "$model_reqs") || exit $?
  fi
fi
if [ -n "$check" ]; then
  python -c "$check" || exit $?
fi
echo "Build complete"
"""


@dataclass(frozen=True)
class BuildFields:
    file_path: str = ""
    function_name: str = ""
    runtime_identifier: str = ""
    comment: str = ""
    registered_model_version_id: str = ""
    build_script_path: str = "cdsw-build.sh"
    examples: list[dict[str, Any]] = field(default_factory=list)
    # Deploy once built: {"cpu", "memory_mb", "replicas", "environment"}; {} for no.
    auto_deploy: dict[str, Any] = field(default_factory=dict)


def builds_root(platform: Platform) -> Path:
    return platform.settings.data_dir / "models" / "builds"


def envs_root(platform: Platform) -> Path:
    return platform.settings.data_dir / "models" / "envs"


def snapshot_dir(platform: Platform, build_id: str) -> Path:
    return builds_root(platform) / build_id


# Snapshots ------------------------------------------------------------------------------


def _candidate_files(root: Path, honour_gitignore: bool) -> list[str] | None:
    """Project-relative files to copy, with ``.gitignore`` applied by git itself (nested
    ignore files and negations included). None when git is unavailable: copy everything."""
    if not honour_gitignore or shutil.which("git") is None:
        return None
    # git opens every .gitignore it meets, and one a workload made a FIFO blocks it: those
    # are refused first (one swapped in after this check ends at the timeout, a 400 too).
    skipped: list[str] = []
    for _listed in safe_paths.walk_files(root, skipped=skipped):
        pass
    for entry in skipped:
        path, _, why = entry.partition(": ")
        if PurePosixPath(path).name == ".gitignore" and why == "not a plain file":
            raise InvalidInput(f"{path!r} is not a plain file (a pipe or device); remove it.")
    with tempfile.TemporaryDirectory() as gitdir:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": gitdir, "GIT_CONFIG_NOSYSTEM": "1"}
        subprocess.run(["git", "init", "-q", gitdir], check=True, env=env, timeout=30)
        try:
            listing = subprocess.run(
                [
                    "git",
                    f"--git-dir={gitdir}/.git",
                    f"--work-tree={root}",
                    "ls-files",
                    "--others",
                    "--exclude-standard",
                    "-z",
                ],
                capture_output=True,
                check=True,
                env=env,
                timeout=GIT_LIST_TIMEOUT,
                stdin=subprocess.DEVNULL,
            ).stdout
        except subprocess.TimeoutExpired as exc:
            raise InvalidInput(
                f"Listing the project's files (honouring .gitignore) took over {exc.timeout} s; "
                "is a .gitignore a pipe?"
            ) from exc
        except subprocess.CalledProcessError as exc:
            why = exc.stderr.decode(errors="replace").strip()[-500:]
            raise InvalidInput(f"git could not list the project's files: {why}") from exc
    return [p for p in listing.decode("utf-8", "surrogateescape").split("\0") if p]


def snapshot(platform: Platform, source: Path, dest: Path) -> tuple[int, int]:
    """Copy the project at ``source`` to ``dest``; (files, bytes). Refuses (InvalidInput) a
    snapshot over ``model_build_max_bytes``. Only plain, singly linked files are copied,
    read without following any link (workloads write the project: STYLE §11)."""
    limit = platform.settings.model_build_max_bytes
    listed = _candidate_files(source, platform.settings.model_build_honour_gitignore)
    dest.mkdir(parents=True, exist_ok=False)
    try:
        copied = safe_paths.copy_tree(
            source,
            "",
            dest,
            max_bytes=limit,
            max_files=platform.settings.max_archive_members,
            only=set(listed) if listed is not None else None,
            exclude_top=EXCLUDED_TOP,
        )
    except PayloadTooLarge as exc:
        raise InvalidInput(
            f"The project is too large to build: over {limit // (1024 * 1024)} MiB (or "
            f"{platform.settings.max_archive_members} files) after .gitignore. Add large data "
            "files to .gitignore (the model can read them from storage) or ask an "
            "administrator to raise LAKEWORKS_MODEL_BUILD_MAX_BYTES."
        ) from exc
    return copied.files, copied.bytes


def _copy_registered(platform: Platform, artifact_dir: Path, dest: Path) -> None:
    """Copy a registered model's files (in its project, where workloads write) into the
    snapshot, as ``snapshot`` copies a project: no links followed, bounded."""
    root = platform.settings.projects_dir.resolve()
    try:
        rel = artifact_dir.relative_to(root)
    except ValueError:
        raise InvalidInput("The model version's files are not in a project.") from None
    project, _, inside = rel.as_posix().partition("/")
    limit = platform.settings.model_build_max_bytes
    try:
        safe_paths.copy_tree(
            root / project,
            inside,
            dest,
            MLFLOW_DIR,
            max_bytes=limit,
            max_files=platform.settings.max_archive_members,
        )
    except PayloadTooLarge as exc:
        raise InvalidInput(
            f"The model version's files are over {limit // (1024 * 1024)} MiB; ask an "
            "administrator to raise LAKEWORKS_MODEL_BUILD_MAX_BYTES."
        ) from exc


# What a registry build installs besides the project's build inputs (compat §5.5).
MODEL_REQUIREMENTS = (f"{MLFLOW_DIR}/requirements.txt", f"{MLFLOW_DIR}/conda.yaml")


def env_hash(runtime_identifier: str, snapshot_root: Path, build_script: str) -> str:
    """The build environment's cache key: runtime plus the build inputs (an MLflow model's
    requirements included), or "" when there are none (nothing to install)."""
    parts = []
    for name in (build_script, "requirements.txt", *MODEL_REQUIREMENTS):
        path = snapshot_root / name
        if path.is_file():
            parts.append(name.encode() + b"\0" + path.read_bytes())
    if not parts:
        return ""
    digest = hashlib.sha256(runtime_identifier.encode())
    for part in parts:
        digest.update(b"\0" + part)
    return digest.hexdigest()


# Commands -------------------------------------------------------------------------------


def _clean_path(value: str, what: str) -> str:
    value = (value or "").strip().lstrip("/")
    if value.startswith("home/cdsw/"):
        value = value[len("home/cdsw/") :]
    if not value or ".." in PurePosixPath(value).parts:
        raise InvalidInput(f"The {what} must be a path inside the project.")
    return value


def create(
    platform: Platform,
    principal: Principal,
    project_id: str,
    model_id: str,
    fields: BuildFields,
) -> ModelBuild:
    """Snapshot the project now and queue the build (the scheduler runs it)."""
    build_id = str(uuid.uuid4())
    with platform.read() as uow:
        require(uow, principal, project_id, Action.CREATE_WORKLOADS)
        model_of(uow, project_id, model_id)
    # Checked before the snapshot is taken: a refusal after it left the copy behind.
    script = _clean_path(fields.build_script_path or "cdsw-build.sh", "build script")
    dest = snapshot_dir(platform, build_id)
    dest.parent.mkdir(parents=True, exist_ok=True)
    version_id = (fields.registered_model_version_id or "").strip()
    file_path = function_name = ""
    if version_id:
        from lakeworks.services.experiments import resolve_version

        source = resolve_version(platform, principal, version_id)
        dest.mkdir()
        _copy_registered(platform, source.artifact_dir, dest)
    else:
        file_path = _clean_path(fields.file_path, "model file")
        function_name = (fields.function_name or "").strip()
        if not function_name.isidentifier():
            raise InvalidInput("The function name must be a Python identifier, e.g. predict.")
        root = files.project_root(platform, project_id)
        if not safe_paths.is_file(root, file_path):
            raise InvalidInput(f"The model file {file_path!r} does not exist in the project.")
        if PurePosixPath(file_path).suffix != ".py":
            raise InvalidInput("The model file must be a Python file (.py).")
        try:
            snapshot(platform, root, dest)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    digest = env_hash(fields.runtime_identifier or "", dest, script)
    examples = [e for e in fields.examples if isinstance(e, dict)]
    try:
        with platform.command(
            principal, "model.build", target=build_id, project_id=project_id
        ) as cmd:
            require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
            model_of(cmd.uow, project_id, model_id)
            build = cmd.uow.models.add_build(
                id=build_id,
                model_id=model_id,
                project_id=project_id,
                creator_id=principal.user.id,
                comment=fields.comment or "",
                file_path=file_path,
                function_name=function_name,
                runtime_identifier=fields.runtime_identifier or "",
                registered_model_version_id=version_id,
                build_script_path=script,
                status=BuildStatus.PENDING.value,
                examples=examples,
                env_hash=digest,
                auto_deploy=dict(fields.auto_deploy or {}),
            )
            cmd.detail = {
                "model_id": model_id,
                "file_path": file_path,
                "function_name": function_name,
                "registered_model_version_id": version_id,
            }
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    platform.nudge()
    return build


def get(
    platform: Platform, principal: Principal, project_id: str, model_id: str, build_id: str
) -> ModelBuild:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        model_of(uow, project_id, model_id)
        build = uow.models.get_build(build_id)
    if build is None or build.model_id != model_id:
        raise NotFound(f"Build {build_id!r} not found.")
    return build


def list_builds(
    platform: Platform, principal: Principal, project_id: str, model_id: str
) -> list[ModelBuild]:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        model_of(uow, project_id, model_id)
        return uow.models.builds_of(model_id)


def build_log(
    platform: Platform, principal: Principal, project_id: str, model_id: str, build_id: str
) -> str:
    build = get(platform, principal, project_id, model_id, build_id)
    if not build.workload_id:
        return ""
    data, _ = workloads.read_log(platform, workloads.get(platform, build.workload_id))
    return data.decode("utf-8", "replace")


# The scheduler's side ---------------------------------------------------------------------


def start_pending(platform: Platform) -> list[str]:
    """Claim pending builds and launch their workloads; the ids started."""
    with platform.read() as uow:
        pending = uow.models.builds_with_status(BuildStatus.PENDING)
    started = []
    for build in pending:
        with platform.store.transaction() as uow:
            if not uow.models.move_build(build.id, BuildStatus.PENDING, BuildStatus.BUILDING):
                continue
        try:
            _launch(platform, build)
        except Exception as exc:  # a build that cannot start fails; others go on
            log.exception("model build %s could not start", build.id)
            _end(platform, build.id, BuildStatus.FAILED, f"could not start: {exc}")
        started.append(build.id)
    return started


def _launch(platform: Platform, build: ModelBuild) -> None:
    with platform.read() as uow:
        project = uow.projects.get(build.project_id)
        user = uow.users.get(build.creator_id)
    if project is None or user is None:
        _end(platform, build.id, BuildStatus.FAILED, "its project or creator was deleted")
        return

    def preparing(message: str) -> None:
        with platform.store.transaction() as uow:
            uow.models.set_build(build.id, reason=message)

    try:
        with platform.launching(build.id):
            runtime = environment.await_runtime(
                platform, build.runtime_identifier, since=time.time(), waiting=preparing
            )
    except environment.RuntimeFailed as exc:
        _end(platform, build.id, BuildStatus.FAILED, exc.message)
        return
    root = snapshot_dir(platform, build.id)
    cached = ""
    if build.env_hash:
        cache = envs_root(platform) / build.env_hash
        if (cache / ".complete").is_file() and not (root / ".local").exists():
            shutil.copytree(cache / "local", root / ".local", symlinks=True)
            cached = build.env_hash[:12]
    check = ""
    if build.from_registry:
        check = (
            f"import mlflow.pyfunc; mlflow.pyfunc.load_model({MLFLOW_DIR!r}); "
            "print('MLflow model loads')"
        )
    else:
        check = ""
    argv = ["/bin/bash", "-c", _BUILD_COMMAND, "lakeworks-build"]
    model_dir = MLFLOW_DIR if build.from_registry else ""
    workload = workloads.launch(
        platform,
        workloads.LaunchRequest(
            kind=WorkloadKind.MODEL_BUILD,
            project=project,
            user=user,
            resources=BUILD_RESOURCES,
            runtime=runtime,
            command=lambda ctx: [*argv, build.build_script_path, cached, check, model_dir],
            identity={"LAKEWORKS_MODEL_ID": build.model_id, "LAKEWORKS_MODEL_BUILD_ID": build.id},
            key_lifetime=timedelta(hours=6),
            project_dir=root,
        ),
    )
    with platform.store.transaction() as uow:
        uow.models.set_build(build.id, workload_id=workload.id, reason="")
    if workload.status is WorkloadStatus.FAILED:
        _end(platform, build.id, BuildStatus.FAILED, workload.reason)


def settle(platform: Platform) -> list[str]:
    """Record the outcome of builds whose workload ended; cache their environment."""
    with platform.read() as uow:
        building = uow.models.builds_with_status(BuildStatus.BUILDING)
        ended = []
        for build in building:
            if not build.workload_id:
                continue
            workload = uow.workloads.get(build.workload_id)
            if workload is not None and workload.status.is_final:
                ended.append((build, workload))
    done = []
    for build, workload in ended:
        if workload.status is WorkloadStatus.SUCCEEDED:
            _cache_env(platform, build)
            if _end(platform, build.id, BuildStatus.BUILT, ""):
                done.append(build.id)
                if build.auto_deploy:
                    _auto_deploy(platform, build)
        else:
            target = (
                BuildStatus.STOPPED
                if workload.status is WorkloadStatus.STOPPED
                else BuildStatus.FAILED
            )
            reason = workload.reason
            last = (
                workloads.last_log_line(platform, workload) if target is BuildStatus.FAILED else ""
            )
            if last:
                reason = f"{reason}; last output: {last}"
            if _end(platform, build.id, target, reason):
                done.append(build.id)
    return done


def _auto_deploy(platform: Platform, build: ModelBuild) -> None:
    """Deploy a build that asked for it (the UI's "deploy when built", API v2
    ``auto_deploy_model``), as its creator."""
    from lakeworks.services import model_deployments

    with platform.read() as uow:
        creator = uow.users.get(build.creator_id)
    if creator is None:
        return
    config = build.auto_deploy
    try:
        model_deployments.create(
            platform,
            Principal(user=creator, via="api_key"),
            build.project_id,
            build.model_id,
            build.id,
            model_deployments.DeploymentFields(
                cpu=float(config.get("cpu", 1.0)),
                memory_mb=int(config.get("memory_mb", 2048)),
                replicas=int(config.get("replicas", 1)),
                environment=dict(config.get("environment") or {}),
            ),
        )
    except LakeworksError:
        log.exception("auto-deploying model build %s failed", build.id)


def _cache_env(platform: Platform, build: ModelBuild) -> None:
    if not build.env_hash:
        return
    local = snapshot_dir(platform, build.id) / ".local"
    cache = envs_root(platform) / build.env_hash
    if not local.is_dir() or (cache / ".complete").exists():
        return
    staging = cache.with_name(cache.name + f".{build.id}.tmp")
    try:
        shutil.copytree(local, staging / "local", symlinks=True)
        (staging / ".complete").write_text(build.id)
        staging.rename(cache)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another build cached it first


def _end(platform: Platform, build_id: str, status: BuildStatus, reason: str) -> bool:
    with platform.store.transaction() as uow:
        moved = uow.models.move_build(
            build_id,
            BuildStatus.BUILDING,
            status,
            built_at=utcnow() if status is BuildStatus.BUILT else None,
            reason=reason[:1000],
        )
    if moved and reason:
        log.info("model build %s: %s (%s)", build_id, status.value, reason)
    return moved
