"""Projects: creation from every source, settings, environment, collaborators, deletion."""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lakeworks import bounds
from lakeworks.data import warehouse as warehouses
from lakeworks.entities.projects import (
    COLLABORATOR_ROLES,
    Collaborator,
    CreationStatus,
    EnvVar,
    Project,
    ProjectSource,
    Role,
    Visibility,
)
from lakeworks.errors import InvalidInput, NotFound, PermissionDenied
from lakeworks.services import archives, gitsource
from lakeworks.services.ids import public_id
from lakeworks.services.permissions import (
    DESCRIPTIONS,
    MINIMUM_ROLE,
    Action,
    effective_role,
    effective_roles,
    require,
    role_allows,
)
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.projects import ProjectQuery, ProjectRepo
from lakeworks.store.tables import utcnow
from lakeworks.store.uow import UnitOfWork

SECRET_MASK = "********"
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TEMPLATES_PACKAGE = "lakeworks.project_templates"

# CML's template names (CreateProjectRequest.template) and Lakeworks' own shipped templates.
TEMPLATE_ALIASES = {"python": "python", "churn-demo": "churn-demo"}
BLANK_TEMPLATES = {"", "blank", "local"}


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:100] or "project"


def _check_shared_memory(mb: int) -> None:
    bounds.check_range(
        "shared_memory_limit (MB)", mb, 0, bounds.MAX_SHARED_MEMORY_MB, low_open=True
    )


def parse_visibility(value: str) -> Visibility:
    lowered = (value or "private").strip().lower()
    if lowered == "organization":  # API v2's name for "team"
        return Visibility.TEAM
    try:
        return Visibility(lowered)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a visibility; use private, team or public.") from None


def available_templates() -> list[str]:
    root = resources.files(TEMPLATES_PACKAGE)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))


@dataclass(frozen=True)
class ProjectSourceSpec:
    """Where a new project's files come from."""

    kind: ProjectSource
    template: str = ""
    git_url: str = ""
    git_ref: str = ""
    archive: Path | None = None
    directory: Path | None = None  # LOCAL: copied as it is (never from user input)


def parse_source(template: str, git_url: str, archive: Path | None = None) -> ProjectSourceSpec:
    """Map CML's ``template``/``git_url`` fields (and an uploaded archive) to a source."""
    name = (template or "").strip().lower()
    if archive is not None:
        return ProjectSourceSpec(ProjectSource.ARCHIVE, archive=archive)
    if name == "git" or (git_url and name in BLANK_TEMPLATES):
        return ProjectSourceSpec(ProjectSource.GIT, git_url=gitsource.check_url(git_url))
    if name in BLANK_TEMPLATES:
        return ProjectSourceSpec(ProjectSource.BLANK)
    if name in available_templates():
        return ProjectSourceSpec(ProjectSource.TEMPLATE, template=name)
    known = ", ".join(["blank", "git", *available_templates()])
    raise InvalidInput(f"There is no project template {template!r}; choose one of {known}.")


# Creation ----------------------------------------------------------------------------


def create(
    platform: Platform,
    principal: Principal,
    *,
    name: str,
    description: str = "",
    visibility: str = "private",
    source: ProjectSourceSpec,
    team_name: str = "",
    environment: Mapping[str, str] | None = None,
    shared_memory_limit: int = 64,
    default_engine_type: str = "ml_runtime",
) -> Project:
    """Create a project and its files. Nothing is recorded unless the files arrived."""
    name = name.strip()
    if not name:
        raise InvalidInput("A project needs a name.")
    bounds.check_name("A project name", name)
    bounds.check_text("description", description)
    _check_shared_memory(shared_memory_limit)
    if principal.confined_to is not None:
        raise PermissionDenied(
            "Workload keys reach their own project only here "
            "(LAKEWORKS_WORKLOAD_KEY_SCOPE=project), so they cannot create projects."
        )
    parsed_visibility = parse_visibility(visibility)
    env = validate_env(environment or {})
    project_id = public_id()
    staging = platform.settings.projects_dir / ".staging" / project_id
    staging.parent.mkdir(parents=True, exist_ok=True)
    try:
        with platform.command(
            principal, "project.create", target=name, project_id=project_id
        ) as cmd:
            # Fetched before any row is written (no database lock is held meanwhile), so a
            # failed clone or a refused archive leaves nothing behind but its audit event.
            _populate(platform, source, staging)
            owner_user_id, owner_team_id = _owner_for(cmd.uow, principal, team_name)
            slug = _free_slug(cmd.uow.projects, slugify(name), owner_user_id, owner_team_id)
            cmd.uow.projects.add(
                project_id=project_id,
                name=name,
                slug=slug,
                description=description.strip(),
                visibility=parsed_visibility,
                owner_user_id=owner_user_id,
                owner_team_id=owner_team_id,
                creator_id=principal.user.id,
                source=source.kind,
                git_url=source.git_url,
                shared_memory_limit=shared_memory_limit,
                default_engine_type=default_engine_type,
            )
            cmd.uow.projects.replace_env(project_id, env, utcnow())
            cmd.uow.projects.set_creation_status(project_id, CreationStatus.SUCCESS, "")
            cmd.target = name
            cmd.detail = {
                "source": source.kind.value,
                "template": source.template,
                "git_url": source.git_url,
            }
            project = cmd.uow.projects.get(project_id)
            assert project is not None
        staging.rename(platform.settings.projects_dir / project_id)
        return project
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _populate(platform: Platform, source: ProjectSourceSpec, dest: Path) -> None:
    settings = platform.settings
    if source.kind is ProjectSource.GIT:
        try:
            gitsource.clone(
                source.git_url,
                dest,
                ref=source.git_ref,
                timeout=settings.git_timeout_seconds,
                mirrors=settings.git_mirrors,
                connect_timeout=settings.git_connect_timeout_seconds,
            )
        except gitsource.CloneFailed as exc:
            raise InvalidInput(f"The project could not be created from git: {exc}") from exc
        return
    dest.mkdir()
    if source.kind is ProjectSource.ARCHIVE:
        assert source.archive is not None
        archives.extract(
            source.archive,
            dest,
            max_bytes=settings.max_archive_bytes,
            max_members=settings.max_archive_members,
        )
    elif source.kind is ProjectSource.LOCAL:
        assert source.directory is not None
        shutil.copytree(
            source.directory,
            dest,
            dirs_exist_ok=True,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".git"),
        )
    elif source.kind is ProjectSource.TEMPLATE:
        template = resources.files(TEMPLATES_PACKAGE) / source.template
        with resources.as_file(template) as path:
            shutil.copytree(
                path,
                dest,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )


def _owner_for(
    uow: UnitOfWork, principal: Principal, team_name: str
) -> tuple[int | None, int | None]:
    if not team_name:
        return principal.user.id, None
    team = uow.users.team_by_name(team_name)
    if team is None:
        raise NotFound(f"Team {team_name!r} not found.")
    role = uow.users.team_role(team.id, principal.user.id)
    if not principal.is_admin and (role is None or Role(role).rank < Role.CONTRIBUTOR.rank):
        raise PermissionDenied(
            f"Creating projects for team {team_name!r} needs the contributor or admin team role."
        )
    return None, team.id


def _free_slug(repo: ProjectRepo, base: str, user_id: int | None, team_id: int | None) -> str:
    slug, n = base, 1
    while repo.slug_taken(owner_user_id=user_id, owner_team_id=team_id, slug=slug):
        n += 1
        slug = f"{base}-{n}"
    return slug


# Reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectView:
    """A project with the caller's role on it (for permissions and masking)."""

    project: Project
    role: Role


def get(platform: Platform, principal: Principal, project_id: str) -> ProjectView:
    with platform.read() as uow:
        project = require(uow, principal, project_id, Action.READ)
        role = effective_role(uow, principal, project)
        assert role is not None
        return ProjectView(project, role)


def get_by_owner_slug(
    platform: Platform, principal: Principal, owner: str, slug: str
) -> ProjectView:
    with platform.read() as uow:
        project = uow.projects.by_owner_slug(owner, slug)
        if project is None:
            raise NotFound(f"Project {owner}/{slug} not found.")
    return get(platform, principal, project.id)


PROJECT_SUBSTRING_FILTERS = {
    "name",
    "description",
    "creator.name",
    "creator.email",
    "owner.name",
    "owner.email",
}
PROJECT_EXACT_FILTERS = {"owner.username", "creator.username", "visibility", "slug"}


def list_projects(
    platform: Platform,
    principal: Principal,
    *,
    filters: Mapping[str, str] | None = None,
    sort: Sequence[tuple[str, bool]] = (),
    offset: int = 0,
    limit: int = 10,
    include_public: bool = False,
    include_all: bool = False,
) -> tuple[list[ProjectView], bool]:
    """Projects the caller belongs to (plus public/team-visible ones, or all for admins)."""
    substring: dict[str, str] = {}
    exact: dict[str, str] = {}
    for key, value in (filters or {}).items():
        if key in PROJECT_SUBSTRING_FILTERS:
            substring[key] = str(value)
        elif key in PROJECT_EXACT_FILTERS:
            exact[key] = str(value)
        else:
            allowed = ", ".join(sorted(PROJECT_SUBSTRING_FILTERS | PROJECT_EXACT_FILTERS))
            raise InvalidInput(f"Projects cannot be filtered by {key!r}; use {allowed}.")
    for field, _ in sort:
        if field not in ProjectRepo.SORT_COLUMNS:
            allowed = ", ".join(sorted(ProjectRepo.SORT_COLUMNS))
            raise InvalidInput(f"Projects cannot be sorted by {field!r}; use {allowed}.")
    with platform.read() as uow:
        everything = include_all and principal.is_admin
        query = ProjectQuery(
            visible_to_user=None if everything else principal.user.id,
            user_team_ids=sorted(uow.users.team_ids_of(principal.user.id)),
            include_visible=include_public or include_all,
            only_project=principal.confined_to,
            substring=substring,
            exact=exact,
            sort=sort,
            offset=offset,
            limit=limit,
        )
        projects, more = uow.projects.query(query)
        roles = effective_roles(uow, principal, projects)
        views = []
        for project in projects:
            role = roles[project.id]
            assert role is not None, "the store only returns projects the caller can read"
            views.append(ProjectView(project, role))
        return views, more


# Settings and environment ------------------------------------------------------------


def listed_by_name(
    platform: Platform, principal: Principal, limit: int = 200
) -> tuple[list[ProjectView], bool]:
    """The caller's projects by name, at most ``limit`` of them, and whether there were more
    (for the pages that gather every project's jobs, sessions or applications)."""
    views: list[ProjectView] = []
    more = True
    while more and len(views) < limit:
        page, more = list_projects(
            platform, principal, sort=[("name", True)], offset=len(views), limit=100
        )
        views.extend(page)
    return views[:limit], more or len(views) > limit


def validate_env(environment: Mapping[str, object]) -> list[EnvVar]:
    """Check names; values become strings (Python-style, as CML does: False → "False")."""
    result = []
    for name, value in environment.items():
        if not ENV_NAME_RE.match(str(name)):
            raise InvalidInput(
                f"{name!r} is not a valid environment variable name "
                "(letters, digits and '_', not starting with a digit)."
            )
        secret = False
        if isinstance(value, Mapping):
            secret = bool(value.get("secret", False))
            value = value.get("value", "")
        result.append(
            EnvVar(name=str(name), value="" if value is None else str(value), secret=secret)
        )
    return result


def get_env(platform: Platform, principal: Principal, project_id: str) -> list[EnvVar]:
    """The project's variables; secret values are masked for everyone."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return [
            EnvVar(v.name, SECRET_MASK if v.secret else v.value, v.secret)
            for v in uow.projects.env(project_id)
        ]


def workload_env(platform: Platform, project_id: str) -> dict[str, str]:
    """Unmasked values, for starting a workload (no principal: the platform itself asks)."""
    with platform.read() as uow:
        return {v.name: v.value for v in uow.projects.env(project_id)}


def replace_env(
    platform: Platform, principal: Principal, project_id: str, env: Sequence[EnvVar]
) -> list[EnvVar]:
    """Replace every variable. A secret sent back as the mask keeps its stored value."""
    with platform.command(principal, "project.env", project_id=project_id) as cmd:
        project = require(cmd.uow, principal, project_id, Action.CHANGE_SETTINGS)
        names = [v.name for v in env]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidInput(f"Environment variables given twice: {', '.join(duplicates)}.")
        validate_env({v.name: v.value for v in env})
        _apply_env(cmd.uow.projects, project_id, env)
        cmd.target = project.name
        cmd.detail = {"names": sorted(v.name for v in env)}
        return [EnvVar(v.name, SECRET_MASK if v.secret else v.value, v.secret) for v in env]


def _apply_env(repo: ProjectRepo, project_id: str, env: Sequence[EnvVar]) -> None:
    current = {v.name: v for v in repo.env(project_id)}
    merged = []
    for var in env:
        old = current.get(var.name)
        secret = var.secret or (old is not None and old.secret and var.value == SECRET_MASK)
        value = (
            old.value
            if (old is not None and old.secret and var.value == SECRET_MASK)
            else var.value
        )
        merged.append(EnvVar(var.name, value, secret))
    repo.replace_env(project_id, merged, utcnow())


def update(
    platform: Platform,
    principal: Principal,
    project_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    visibility: str | None = None,
    environment: Mapping[str, object] | None = None,
    shared_memory_limit: int | None = None,
    default_engine_type: str | None = None,
) -> ProjectView:
    """PATCH semantics: only the given fields change."""
    with platform.command(principal, "project.update", project_id=project_id) as cmd:
        project = require(cmd.uow, principal, project_id, Action.CHANGE_SETTINGS)
        values: dict[str, object] = {}
        if name is not None:
            if not name.strip():
                raise InvalidInput("A project needs a name.")
            values["name"] = bounds.check_name("A project name", name.strip())
        if description is not None:
            values["description"] = bounds.check_text("description", description.strip())
        if visibility is not None:
            values["visibility"] = parse_visibility(visibility)
        if shared_memory_limit is not None:
            _check_shared_memory(shared_memory_limit)
            values["shared_memory_limit"] = shared_memory_limit
        if default_engine_type is not None:
            values["default_engine_type"] = default_engine_type
        if values:
            cmd.uow.projects.update(project_id, **values)
        if environment is not None:
            _apply_env(cmd.uow.projects, project_id, validate_env(environment))
        cmd.target = project.name
        cmd.detail = {k: str(v) for k, v in values.items()} | (
            {"environment": sorted(environment)} if environment is not None else {}
        )
        updated = cmd.uow.projects.get(project_id)
        assert updated is not None
        role = effective_role(cmd.uow, principal, updated)
        assert role is not None
        return ProjectView(updated, role)


def delete(platform: Platform, principal: Principal, project_id: str) -> None:
    """Delete the project's rows and files; nothing of other projects is touched."""
    with platform.command(principal, "project.delete", project_id=project_id) as cmd:
        project = require(cmd.uow, principal, project_id, Action.DELETE_PROJECT)
        cmd.target = project.name
        # Models go by cascade; their metrics rows (no foreign key) are deleted here.
        cmd.uow.model_metrics.delete_model(m.id for m in cmd.uow.models.of_project(project_id))
        cmd.uow.projects.delete(project_id)
        # Its Iceberg catalog's rows (catalog_name = the project's id, no foreign key in the
        # JDBC catalog's schema) and, below, its warehouse.
        cmd.uow.iceberg.delete_catalog(project_id)
        root = platform.settings.projects_dir / project_id
        # Move aside first so a crash mid-delete never leaves a half project in place.
        trash = platform.settings.projects_dir / ".trash" / f"{project_id}-{secrets.token_hex(4)}"
        if root.exists():
            trash.parent.mkdir(parents=True, exist_ok=True)
            root.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)
    from lakeworks.services.experiment_runs import snapshots_root  # it builds on this module

    shutil.rmtree(snapshots_root(platform.settings, project_id), ignore_errors=True)
    warehouses.remove_warehouse(platform.settings, project_id)
    platform.iceberg.forget(project_id)


# Collaborators -----------------------------------------------------------------------

# API v2 permission names ↔ roles.
PERMISSION_TO_ROLE = {
    "read": Role.VIEWER,
    "operator": Role.OPERATOR,
    "write": Role.CONTRIBUTOR,
    "admin": Role.ADMIN,
}
ROLE_TO_PERMISSION = {role: perm for perm, role in PERMISSION_TO_ROLE.items()}


def parse_role(value: str) -> Role:
    lowered = (value or "").strip().lower()
    role = PERMISSION_TO_ROLE.get(lowered)
    if role is None:
        try:
            role = Role(lowered)
        except ValueError:
            role = None
    if role not in COLLABORATOR_ROLES:
        raise InvalidInput(
            f"{value!r} is not a collaborator role; use viewer (read), operator, "
            "contributor (write) or admin."
        )
    assert role is not None
    return role


def list_collaborators(
    platform: Platform, principal: Principal, project_id: str
) -> list[Collaborator]:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return list(uow.projects.collaborators(project_id))


def set_collaborator(
    platform: Platform, principal: Principal, project_id: str, name: str, role: str
) -> Collaborator:
    """Add a user or team as collaborator, or change their role."""
    parsed = parse_role(role)
    with platform.command(
        principal, "project.collaborator.set", target=name, project_id=project_id
    ) as cmd:
        project = require(cmd.uow, principal, project_id, Action.MANAGE_COLLABORATORS)
        user = cmd.uow.users.by_username(name)
        team = None if user else cmd.uow.users.team_by_name(name)
        if user is None and team is None:
            raise NotFound(f"No user or team named {name!r}.")
        if user is not None and not project.owner.is_team and user.id == project.owner.id:
            raise InvalidInput(f"{name!r} owns the project already.")
        cmd.uow.projects.set_member(
            project_id,
            user_id=user.id if user else None,
            team_id=team.id if team else None,
            role=parsed,
        )
        cmd.detail = {"role": parsed.value}
        for collaborator in cmd.uow.projects.collaborators(project_id):
            if collaborator.name == name:
                return collaborator
        raise AssertionError("the collaborator was just written")


def remove_collaborator(
    platform: Platform, principal: Principal, project_id: str, name: str
) -> None:
    with platform.command(
        principal, "project.collaborator.remove", target=name, project_id=project_id
    ) as cmd:
        project = require(cmd.uow, principal, project_id, Action.READ)
        is_self = name == principal.user.username
        if not is_self:
            require(cmd.uow, principal, project_id, Action.MANAGE_COLLABORATORS)
        user = cmd.uow.users.by_username(name)
        team = None if user else cmd.uow.users.team_by_name(name)
        removed = (user or team) is not None and cmd.uow.projects.remove_member(
            project.id, user_id=user.id if user else None, team_id=team.id if team else None
        )
        if not removed:
            raise NotFound(f"{name!r} is not a collaborator of this project.")


def allowed(view: ProjectView, action: Action) -> bool:
    """For templates: whether to show a control (the service still checks on use)."""
    return role_allows(view.role, action)


def refusal(view: ProjectView, action: Action) -> str:
    """For templates: why a control is shown disabled ("" when the caller may use it)."""
    if role_allows(view.role, action):
        return ""
    role = view.role.value if view.role else "none"
    needed = MINIMUM_ROLE[action].value
    return (
        f"Your role here is {role}: {needed}s and above can {DESCRIPTIONS[action]}. "
        "A project admin can change your role."
    )
