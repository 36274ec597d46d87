"""Projects: every creation source, ownership and roles, environment, collaborators, deletion."""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

from lakeworks.entities.audit import Outcome
from lakeworks.entities.projects import EnvVar, Project, ProjectSource, Role, Visibility
from lakeworks.entities.users import User
from lakeworks.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lakeworks.services import audit, files, projects, users
from lakeworks.services.permissions import effective_role
from lakeworks.services.platform import Platform, Principal

BLANK = projects.parse_source("", "")


def as_(user: User) -> Principal:
    return Principal(user=user, via="session")


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user("bob")


def new_project(platform: Platform, owner: User, name: str = "Churn", **kwargs: object) -> Project:
    kwargs.setdefault("source", BLANK)
    return projects.create(platform, as_(owner), name=name, **kwargs)


def project_files(platform: Platform, project: Project) -> set[str]:
    root = files.project_root(platform, project.id)
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def all_projects(platform: Platform, admin: User) -> list[Project]:
    views, _ = projects.list_projects(platform, as_(admin), include_all=True, limit=100)
    return [v.project for v in views]


def project_dirs(platform: Platform) -> list[str]:
    """Project folders on disk (staging and trash are the service's own)."""
    return sorted(
        p.name for p in platform.settings.projects_dir.iterdir() if not p.name.startswith(".")
    ) + sorted(
        p.name
        for hidden in (".staging", ".trash")
        if (platform.settings.projects_dir / hidden).exists()
        for p in (platform.settings.projects_dir / hidden).iterdir()
    )


def role_of(platform: Platform, user: User, project: Project) -> Role | None:
    with platform.read() as uow:
        return effective_role(uow, as_(user), project)


# Creation -----------------------------------------------------------------------------


def test_a_blank_project(platform: Platform, alice: User, admin: User) -> None:
    project = new_project(platform, alice, "  Telco Churn!  ", description=" Predict churn ")

    assert project.name == "Telco Churn!"
    assert project.slug == "telco-churn"
    assert project.description == "Predict churn"
    assert project.owner.username == "alice" and not project.owner.is_team
    assert project.creator.username == "alice"
    assert project.visibility is Visibility.PRIVATE
    assert project.source is ProjectSource.BLANK
    assert project.creation_status.value == "success"
    assert len(project.id) == 19 and project.id.count("-") == 3
    root = files.project_root(platform, project.id)
    assert root.is_dir() and list(root.iterdir()) == []
    assert project_dirs(platform) == [project.id]

    events, _ = audit.list_audit(platform, as_(admin), project_id=project.id)
    assert [(e.action, e.actor, e.outcome) for e in events] == [
        ("project.create", "alice", Outcome.SUCCESS)
    ]


def test_names_of_one_owner_get_distinct_slugs(platform: Platform, alice: User, bob: User) -> None:
    first = new_project(platform, alice, "Churn")
    second = new_project(platform, alice, "churn")
    other_owner = new_project(platform, bob, "Churn")
    assert (first.slug, second.slug, other_owner.slug) == ("churn", "churn-2", "churn")
    found = projects.get_by_owner_slug(platform, as_(alice), "alice", "churn-2")
    assert found.project.id == second.id


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": "   "}, InvalidInput, "needs a name"),
        ({"name": "x" * 201}, InvalidInput, "at most 200"),
        ({"visibility": "secret"}, InvalidInput, "not a visibility"),
        ({"environment": {"1BAD": "x"}}, InvalidInput, "not a valid environment variable"),
        ({"team_name": "nosuchteam"}, NotFound, "nosuchteam"),
    ],
)
def test_invalid_creations_leave_nothing(
    platform: Platform,
    alice: User,
    admin: User,
    kwargs: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    kwargs = {"name": "Valid", **kwargs}
    with pytest.raises(error, match=message):
        projects.create(platform, as_(alice), source=BLANK, **kwargs)
    assert all_projects(platform, admin) == []
    assert project_dirs(platform) == []


def test_workload_keys_cannot_create_projects(platform: Platform, alice: User) -> None:
    owned = new_project(platform, alice)
    scoped = Principal(user=alice, via="api_key", project_scope=owned.id)
    with pytest.raises(PermissionDenied, match="Workload keys"):
        projects.create(platform, scoped, name="Sneaky", source=BLANK)


def test_organization_visibility_means_team(platform: Platform, alice: User) -> None:
    project = new_project(platform, alice, visibility="Organization")
    assert project.visibility is Visibility.TEAM


def test_the_python_template(platform: Platform, alice: User) -> None:
    project = new_project(platform, alice, source=projects.parse_source("python", ""))
    assert project.source is ProjectSource.TEMPLATE
    # CML's Python template files that tutorials name (issue 14 #9); they run in
    # tests/scheduler/test_python_template.py.
    assert project_files(platform, project) == {
        "README.md",
        "main.py",
        "analysis.py",
        "fit.py",
        "predict.py",
        "cdsw-build.sh",
        "requirements.txt",
    }


def test_the_blank_template_is_empty(platform: Platform, alice: User) -> None:
    for name in ("blank", "Blank", ""):
        project = new_project(
            platform, alice, f"Empty {name}", source=projects.parse_source(name, "")
        )
        assert project_files(platform, project) == set()


def test_the_churn_demo_template_ships_its_data(platform: Platform, alice: User) -> None:
    project = new_project(platform, alice, source=projects.parse_source("Churn-Demo", ""))
    names = project_files(platform, project)
    assert {"README.md", "train.py", "predict.py", "data/telco-customer-churn.csv"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)

    csv = files.read_bytes(platform, as_(alice), project.id, "data/telco-customer-churn.csv")
    shipped = resources.files("lakeworks.project_templates") / "churn-demo" / "data"
    assert csv == (shipped / "telco-customer-churn.csv").read_bytes()
    assert csv.startswith(b"customerID,") and csv.count(b"\n") > 7000


def test_the_churn_demo_model_builds_with_what_train_py_wrote(
    platform: Platform, alice: User, tmp_path: Path
) -> None:
    # The lab: run train.py (it writes model.pkl), then build a model from predict.py, which
    # loads model.pkl. A build snapshots the project honouring .gitignore, so the template
    # must not ignore the file its model needs.
    from lakeworks.services import model_builds

    project = new_project(platform, alice, source=projects.parse_source("churn-demo", ""))
    root = platform.settings.projects_dir / project.id
    assert 'open("model.pkl"' in (root / "predict.py").read_text()
    (root / "model.pkl").write_bytes(b"trained")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"x")
    model_builds.snapshot(platform, root, tmp_path / "snapshot")
    assert (tmp_path / "snapshot" / "model.pkl").read_bytes() == b"trained"
    assert not (tmp_path / "snapshot" / "__pycache__").exists()


def test_an_unknown_template_lists_the_choices() -> None:
    with pytest.raises(InvalidInput, match="blank, git, churn-demo, python"):
        projects.parse_source("tensorflow", "")


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.org",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git("init", "--quiet", cwd=repo)
    (repo / "analysis.py").write_text("print('from git')\n")
    (repo / "data").mkdir()
    (repo / "data" / "rows.csv").write_text("a,b\n1,2\n")
    _git("add", ".", cwd=repo)
    _git("commit", "--quiet", "-m", "initial", cwd=repo)
    return repo


def test_a_project_from_a_local_git_repository(
    platform: Platform, alice: User, git_repo: Path
) -> None:
    project = new_project(platform, alice, source=projects.parse_source("git", str(git_repo)))
    assert project.source is ProjectSource.GIT
    assert project.git_url == str(git_repo)
    assert files.read_bytes(platform, as_(alice), project.id, "analysis.py") == (
        b"print('from git')\n"
    )
    assert files.read_bytes(platform, as_(alice), project.id, "data/rows.csv") == b"a,b\n1,2\n"
    # A git URL with the blank template also means git, as CML's API does.
    assert projects.parse_source("", str(git_repo)).kind is ProjectSource.GIT


def test_an_unreachable_git_host_is_explained_and_leaves_nothing(
    platform: Platform, alice: User, admin: User
) -> None:
    source = projects.parse_source("git", "https://nonexistent.invalid/repo.git")
    with pytest.raises(InvalidInput, match="cannot reach nonexistent.invalid"):
        new_project(platform, alice, source=source)
    assert all_projects(platform, admin) == []
    assert project_dirs(platform) == []


def test_a_path_that_is_not_a_repository_is_refused(
    platform: Platform, alice: User, admin: User, tmp_path: Path
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "file.txt").write_text("not a repo")
    with pytest.raises(InvalidInput, match="could not be created from git"):
        new_project(platform, alice, source=projects.parse_source("git", str(plain)))
    assert all_projects(platform, admin) == []
    assert project_dirs(platform) == []


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% /tmp/lakeworks-pwned",
        "EXT::sh -c id",
        "fd::17",
        "--upload-pack=touch /tmp/lakeworks-pwned",
        "https://example.org/repo.git\n--config=x",
        "",
    ],
)
def test_dangerous_git_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        projects.parse_source("git", url)


def test_a_dash_ref_is_refused(platform: Platform, alice: User, git_repo: Path) -> None:
    source = projects.ProjectSourceSpec(
        ProjectSource.GIT, git_url=str(git_repo), git_ref="--upload-pack=touch"
    )
    with pytest.raises(InvalidInput, match="not a git ref"):
        new_project(platform, alice, source=source)


def test_a_project_from_an_archive(platform: Platform, alice: User, tmp_path: Path) -> None:
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("my-project/main.py", "print('zip')\n")
        zf.writestr("my-project/lib/util.py", "X = 1\n")
    project = new_project(platform, alice, source=projects.parse_source("", "", archive=archive))
    assert project.source is ProjectSource.ARCHIVE
    assert project_files(platform, project) == {"main.py", "lib/util.py"}


def test_a_hostile_archive_creates_no_project(
    platform: Platform, alice: User, admin: User, tmp_path: Path
) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr(zipfile.ZipInfo("../../evil.txt"), "pwned")
    with pytest.raises(InvalidInput, match="outside the project"):
        new_project(platform, alice, source=projects.parse_source("", "", archive=archive))
    assert all_projects(platform, admin) == []
    assert project_dirs(platform) == []
    assert not list(platform.settings.data_dir.rglob("evil.txt"))


# Teams and roles ----------------------------------------------------------------------


@pytest.fixture
def red(platform: Platform, alice: User, make_user: Callable[..., User]) -> str:
    """Team "red": alice contributes, vera views."""
    make_user("vera")
    users.create_team(platform, None, "red")
    users.set_team_member(platform, None, "red", "alice", "contributor")
    users.set_team_member(platform, None, "red", "vera", "viewer")
    return "red"


def test_a_team_owned_project_gives_members_their_team_role(
    platform: Platform, alice: User, bob: User, red: str
) -> None:
    vera = users.get_user(platform, as_(alice), "vera")
    project = new_project(platform, alice, "Team work", team_name=red)

    assert project.owner.is_team and project.owner.username == "red"
    assert project.creator.username == "alice"
    assert role_of(platform, alice, project) is Role.CONTRIBUTOR
    assert role_of(platform, vera, project) is Role.VIEWER
    assert role_of(platform, bob, project) is None
    with pytest.raises(NotFound):
        projects.get(platform, as_(bob), project.id)


def test_only_contributing_team_members_create_team_projects(
    platform: Platform, alice: User, bob: User, admin: User, red: str
) -> None:
    vera = users.get_user(platform, as_(alice), "vera")
    with pytest.raises(PermissionDenied, match="contributor or admin team role"):
        new_project(platform, vera, team_name=red)
    with pytest.raises(PermissionDenied):
        new_project(platform, bob, team_name=red)
    # Site admins may create for any team.
    assert new_project(platform, admin, team_name=red).owner.username == "red"


def test_invalid_team_roles_are_refused(platform: Platform, alice: User, red: str) -> None:
    with pytest.raises(InvalidInput, match="not a team role"):
        users.set_team_member(platform, None, red, "alice", "owner")
    with pytest.raises(NotFound):
        users.set_team_member(platform, None, red, "nobody", "viewer")
    with pytest.raises(PermissionDenied):
        users.set_team_member(platform, as_(alice), red, "alice", "admin")


def test_a_team_owning_projects_cannot_be_deleted(
    platform: Platform, alice: User, admin: User, red: str
) -> None:
    project = new_project(platform, alice, team_name=red)
    with pytest.raises(Conflict, match="still owns projects"):
        users.delete_team(platform, None, red)
    projects.delete(platform, as_(admin), project.id)
    users.delete_team(platform, None, red)
    assert users.list_teams(platform, as_(alice)) == []


@pytest.mark.parametrize(
    ("visibility", "teammate", "stranger"),
    [
        ("private", None, None),
        ("team", Role.VIEWER, None),
        ("public", Role.VIEWER, Role.VIEWER),
    ],
)
def test_visibility_gives_read_access(
    platform: Platform,
    alice: User,
    bob: User,
    admin: User,
    red: str,
    visibility: str,
    teammate: Role | None,
    stranger: Role | None,
) -> None:
    vera = users.get_user(platform, as_(alice), "vera")  # alice's teammate in red
    project = new_project(platform, alice, visibility=visibility)

    assert role_of(platform, alice, project) is Role.OWNER
    assert role_of(platform, vera, project) is teammate
    assert role_of(platform, bob, project) is stranger
    assert role_of(platform, admin, project) is Role.OWNER

    listed = {
        v.project.id for v in projects.list_projects(platform, as_(bob), include_public=True)[0]
    }
    assert (project.id in listed) is (stranger is not None)
    # Without include_public only memberships are listed.
    assert projects.list_projects(platform, as_(bob))[0] == []


def test_the_highest_role_wins(platform: Platform, alice: User, bob: User, red: str) -> None:
    project = new_project(platform, alice, visibility="public")
    projects.set_collaborator(platform, as_(alice), project.id, "bob", "operator")
    assert role_of(platform, bob, project) is Role.OPERATOR
    # A team collaborator with a higher role lifts its members.
    users.set_team_member(platform, None, red, "bob", "viewer")
    projects.set_collaborator(platform, as_(alice), project.id, red, "admin")
    assert role_of(platform, bob, project) is Role.ADMIN


def test_a_workload_key_reaches_only_its_project(platform: Platform, alice: User) -> None:
    mine = new_project(platform, alice, "Mine")
    other = new_project(platform, alice, "Other", visibility="public")
    scoped = Principal(user=alice, via="api_key", project_scope=mine.id)
    with platform.read() as uow:
        assert effective_role(uow, scoped, mine) is Role.OWNER
        assert effective_role(uow, scoped, other) is None


def test_list_filters_and_sorts_are_checked(platform: Platform, alice: User) -> None:
    for name in ("beta", "alpha", "gamma"):
        new_project(platform, alice, name)
    with pytest.raises(InvalidInput, match="cannot be filtered by 'secret'"):
        projects.list_projects(platform, as_(alice), filters={"secret": "x"})
    with pytest.raises(InvalidInput, match="cannot be sorted by 'owner'"):
        projects.list_projects(platform, as_(alice), sort=[("owner", True)])

    views, more = projects.list_projects(platform, as_(alice), filters={"name": "ALP"})
    assert [v.project.name for v in views] == ["alpha"] and more is False
    views, more = projects.list_projects(platform, as_(alice), sort=[("name", False)], limit=2)
    assert [v.project.name for v in views] == ["gamma", "beta"] and more is True
    assert all(v.role is Role.OWNER for v in views)


# Environment variables ----------------------------------------------------------------


def test_secret_values_are_masked_and_survive_being_sent_back(
    platform: Platform, alice: User
) -> None:
    project = new_project(platform, alice, environment={"REGION": "eu"})
    who = as_(alice)
    projects.update(
        platform,
        who,
        project.id,
        environment={"REGION": "eu", "TOKEN": {"value": "s3cret", "secret": True}},
    )

    shown = {v.name: v for v in projects.get_env(platform, who, project.id)}
    assert shown["TOKEN"] == EnvVar("TOKEN", projects.SECRET_MASK, True), "masked for the owner too"
    assert shown["REGION"] == EnvVar("REGION", "eu", False)
    assert projects.workload_env(platform, project.id) == {"REGION": "eu", "TOKEN": "s3cret"}

    # A settings form sends everything back, the secret as the mask: the secret is kept.
    returned = projects.replace_env(
        platform,
        who,
        project.id,
        [EnvVar("REGION", "us", False), EnvVar("TOKEN", projects.SECRET_MASK, False)],
    )
    assert all(v.value != "s3cret" for v in returned)
    assert projects.workload_env(platform, project.id) == {"REGION": "us", "TOKEN": "s3cret"}
    token = next(v for v in projects.get_env(platform, who, project.id) if v.name == "TOKEN")
    assert token.secret is True

    # A new value replaces it; leaving the variable out removes it.
    projects.update(
        platform, who, project.id, environment={"TOKEN": {"value": "n3w", "secret": True}}
    )
    assert projects.workload_env(platform, project.id) == {"TOKEN": "n3w"}


def test_the_mask_is_a_literal_value_for_plain_variables(platform: Platform, alice: User) -> None:
    project = new_project(platform, alice, environment={"PLAIN": "visible"})
    projects.update(platform, as_(alice), project.id, environment={"PLAIN": projects.SECRET_MASK})
    assert projects.workload_env(platform, project.id) == {"PLAIN": projects.SECRET_MASK}


@pytest.mark.parametrize("name", ["1ABC", "A-B", "", "WITH SPACE", "ÜBER", "A=B"])
def test_invalid_variable_names_are_refused(platform: Platform, alice: User, name: str) -> None:
    project = new_project(platform, alice, environment={"KEEP": "1"})
    with pytest.raises(InvalidInput, match="not a valid environment variable name"):
        projects.update(platform, as_(alice), project.id, environment={name: "x", "NEW": "2"})
    assert projects.workload_env(platform, project.id) == {"KEEP": "1"}


def test_values_become_strings(platform: Platform, alice: User) -> None:
    project = new_project(platform, alice)
    projects.update(
        platform, as_(alice), project.id, environment={"FLAG": False, "N": 3, "NONE": None}
    )
    assert projects.workload_env(platform, project.id) == {"FLAG": "False", "N": "3", "NONE": ""}


def test_only_project_admins_change_settings(platform: Platform, alice: User, bob: User) -> None:
    project = new_project(platform, alice, environment={"A": "1"})
    projects.set_collaborator(platform, as_(alice), project.id, "bob", "contributor")
    with pytest.raises(PermissionDenied, match="contributor"):
        projects.update(platform, as_(bob), project.id, environment={"A": "2"})
    with pytest.raises(PermissionDenied):
        projects.update(platform, as_(bob), project.id, name="Renamed")
    assert projects.workload_env(platform, project.id) == {"A": "1"}
    assert projects.get(platform, as_(bob), project.id).project.name == "Churn"


# Deletion -----------------------------------------------------------------------------


def test_deleting_a_project_removes_its_files_and_rows_only(
    platform: Platform, alice: User, bob: User, admin: User
) -> None:
    doomed = new_project(platform, alice, "Doomed", environment={"A": "1"})
    kept = new_project(platform, alice, "Kept", environment={"B": "2"})
    for project in (doomed, kept):
        files.write_bytes(platform, as_(alice), project.id, "data/model.bin", b"weights")
        projects.set_collaborator(platform, as_(alice), project.id, "bob", "viewer")

    projects.delete(platform, as_(alice), doomed.id)

    assert not files.project_root(platform, doomed.id).exists()
    assert project_dirs(platform) == [kept.id]
    with pytest.raises(NotFound):
        projects.get(platform, as_(alice), doomed.id)
    assert [p.id for p in all_projects(platform, admin)] == [kept.id]
    assert projects.workload_env(platform, doomed.id) == {}

    assert files.read_bytes(platform, as_(alice), kept.id, "data/model.bin") == b"weights"
    assert projects.workload_env(platform, kept.id) == {"B": "2"}
    assert [c.name for c in projects.list_collaborators(platform, as_(bob), kept.id)] == ["bob"]
    events, _ = audit.list_audit(platform, as_(admin), project_id=doomed.id)
    assert events[0].action == "project.delete" and events[0].target == "Doomed"


def test_only_project_admins_delete(
    platform: Platform, alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    project = new_project(platform, alice)
    files.write_bytes(platform, as_(alice), project.id, "keep.txt", b"keep")
    projects.set_collaborator(platform, as_(alice), project.id, "bob", "contributor")
    mallory = make_user("mallory")

    with pytest.raises(PermissionDenied):
        projects.delete(platform, as_(bob), project.id)
    with pytest.raises(NotFound):
        projects.delete(platform, as_(mallory), project.id)
    assert files.read_bytes(platform, as_(alice), project.id, "keep.txt") == b"keep"

    projects.set_collaborator(platform, as_(alice), project.id, "bob", "admin")
    projects.delete(platform, as_(bob), project.id)
    assert project_dirs(platform) == []


# Collaborators ------------------------------------------------------------------------


def test_collaborators_are_added_changed_and_removed(
    platform: Platform, alice: User, bob: User
) -> None:
    project = new_project(platform, alice)
    added = projects.set_collaborator(platform, as_(alice), project.id, "bob", "write")
    assert (added.name, added.role) == ("bob", Role.CONTRIBUTOR), "API v2 names map to roles"
    changed = projects.set_collaborator(platform, as_(alice), project.id, "bob", "Viewer")
    assert changed.role is Role.VIEWER
    assert [c.role for c in projects.list_collaborators(platform, as_(alice), project.id)] == [
        Role.VIEWER
    ]
    projects.remove_collaborator(platform, as_(alice), project.id, "bob")
    assert projects.list_collaborators(platform, as_(alice), project.id) == []
    with pytest.raises(NotFound, match="not a collaborator"):
        projects.remove_collaborator(platform, as_(alice), project.id, "bob")


def test_collaborator_refusals(
    platform: Platform, alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    carol = make_user("carol")
    project = new_project(platform, alice)
    projects.set_collaborator(platform, as_(alice), project.id, "bob", "contributor")

    with pytest.raises(NotFound, match="No user or team named 'ghost'"):
        projects.set_collaborator(platform, as_(alice), project.id, "ghost", "viewer")
    for role in ("owner", "superuser", ""):
        with pytest.raises(InvalidInput, match="not a collaborator role"):
            projects.set_collaborator(platform, as_(alice), project.id, "carol", role)
    with pytest.raises(InvalidInput, match="owns the project already"):
        projects.set_collaborator(platform, as_(alice), project.id, "alice", "viewer")
    # A contributor cannot manage collaborators, so cannot lift anyone to their role or above.
    for role in ("viewer", "contributor", "admin"):
        with pytest.raises(PermissionDenied, match="contributor"):
            projects.set_collaborator(platform, as_(bob), project.id, "carol", role)
    with pytest.raises(PermissionDenied):
        projects.set_collaborator(platform, as_(bob), project.id, "bob", "admin")
    assert role_of(platform, carol, project) is None
    assert role_of(platform, bob, project) is Role.CONTRIBUTOR


def test_a_project_admin_can_grant_up_to_admin(
    platform: Platform, alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    carol = make_user("carol")
    project = new_project(platform, alice)
    projects.set_collaborator(platform, as_(alice), project.id, "bob", "admin")
    projects.set_collaborator(platform, as_(bob), project.id, "carol", "admin")
    assert role_of(platform, carol, project) is Role.ADMIN
    with pytest.raises(InvalidInput):
        projects.set_collaborator(platform, as_(bob), project.id, "carol", "owner")


def test_collaborators_may_leave_but_not_remove_others(
    platform: Platform, alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    make_user("carol")
    project = new_project(platform, alice)
    projects.set_collaborator(platform, as_(alice), project.id, "bob", "viewer")
    projects.set_collaborator(platform, as_(alice), project.id, "carol", "viewer")
    with pytest.raises(PermissionDenied):
        projects.remove_collaborator(platform, as_(bob), project.id, "carol")
    projects.remove_collaborator(platform, as_(bob), project.id, "bob")
    names = [c.name for c in projects.list_collaborators(platform, as_(alice), project.id)]
    assert names == ["carol"]


def test_the_churn_demo_readme_names_its_files_and_the_steps_that_work(
    platform: Platform, alice: User
) -> None:
    project = new_project(platform, alice, source=projects.parse_source("churn-demo", ""))
    root = platform.settings.projects_dir / project.id
    readme = (root / "README.md").read_text()
    for name in re.findall(r"\| `([^`]+)` \|", readme):
        assert (root / name).exists(), name
    # Sessions, jobs and models all work on this server: no "once they are enabled".
    assert "enabled" not in readme
    for step in ("New session", "New job", "New model"):
        assert step in readme
    # The example input is what predict.py takes: train.py's feature columns.
    example = json.loads(readme.split("```json", 1)[1].split("```", 1)[0])
    train = (root / "train.py").read_text()
    columns = re.findall(r'"(\w+)"', train.split("NUMERIC =", 1)[1].split("df =", 1)[0])
    assert sorted(example) == sorted(columns)


def test_a_listing_gives_each_project_the_role_it_gives_alone(
    platform: Platform, alice: User, bob: User, red: str, make_user: Callable[..., User]
) -> None:
    """``list_projects`` reads roles for a whole page at once (``effective_roles``): for every
    source of a role, the same as ``effective_role`` project by project."""
    vera = users.get_user(platform, as_(alice), "vera")
    users.set_team_member(platform, None, red, "bob", "viewer")
    carol = make_user("carol")
    made = [
        new_project(platform, alice, "Own"),
        new_project(platform, alice, "Team owned", team_name=red),
        new_project(platform, alice, "Team visible", visibility="team"),
        new_project(platform, carol, "Public", visibility="public"),
        new_project(platform, carol, "Collaborator"),
        new_project(platform, carol, "Team collaborator"),
        new_project(platform, carol, "Hidden"),
    ]
    projects.set_collaborator(platform, as_(carol), made[4].id, "vera", "operator")
    projects.set_collaborator(platform, as_(carol), made[5].id, red, "contributor")
    for user in (alice, bob, vera, carol):
        views, _ = projects.list_projects(
            platform, as_(user), limit=50, include_public=True, sort=[("name", True)]
        )
        listed = {view.project.id: view.role for view in views}
        with platform.read() as uow:
            alone = {p.id: effective_role(uow, as_(user), p) for p in made}
        assert listed == {pid: role for pid, role in alone.items() if role is not None}, user
    assert {v.project.name for v in projects.list_projects(platform, as_(vera), limit=50)[0]} >= {
        "Collaborator",
        "Team collaborator",
    }
