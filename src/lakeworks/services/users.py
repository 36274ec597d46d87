"""Users and teams: created and managed by site admins (or the operator at the CLI)."""

from __future__ import annotations

from lakeworks.entities.projects import COLLABORATOR_ROLES, Role
from lakeworks.entities.users import Team, TeamMember, User
from lakeworks.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lakeworks.services.auth import USERNAME_RE, SetupToken, hash_password
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import UnitOfWork


def require_admin(principal: Principal | None) -> None:
    # None is the operator at the command line (`lakeworks admin ...`), who owns the machine.
    if principal is not None and not principal.is_admin:
        raise PermissionDenied("Only site administrators can do this.")


def validate_username(username: str) -> str:
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise InvalidInput(
            f"{username!r} is not a valid username: use 1-64 lowercase letters, digits, "
            "'.', '_' or '-', starting with a letter."
        )
    return username


def create_user(
    platform: Platform,
    principal: Principal | None,
    *,
    username: str,
    password: str | None,
    name: str = "",
    email: str = "",
    is_admin: bool = False,
) -> User:
    """Create a local account. ``password`` None makes an API-key-only account."""
    username = validate_username(username)
    with platform.command(principal, "user.create", target=username) as cmd:
        require_admin(principal)
        if cmd.uow.users.by_username(username) or cmd.uow.users.team_by_name(username):
            raise Conflict(f"The name {username!r} is already taken by a user or team.")
        user = cmd.uow.users.add(
            username=username,
            name=name.strip() or username,
            email=email.strip(),
            password_hash=hash_password(password, username) if password is not None else None,
            is_admin=is_admin,
        )
        cmd.detail = {"is_admin": is_admin}
        return user


def setup_first_admin(
    platform: Platform,
    token: SetupToken,
    secret: str,
    *,
    username: str,
    password: str,
    name: str = "",
    email: str = "",
) -> User:
    """Create the first site administrator with the one-time setup secret.

    The secret is spent only when the account was created, so a typo in the form does not
    force a restart to get a new one.
    """
    if admin_exists(platform):
        raise Conflict("An administrator exists already; sign in instead.")
    token.check(secret)
    user = create_user(
        platform, None, username=username, password=password, name=name, email=email, is_admin=True
    )
    token.consume(secret)
    return user


def update_profile(
    platform: Platform,
    principal: Principal,
    *,
    name: str | None = None,
    email: str | None = None,
) -> User:
    """People edit their own name and email."""
    with platform.command(principal, "user.profile", target=principal.user.username) as cmd:
        if principal.project_scope is not None:
            raise PermissionDenied("Workload keys cannot change profiles.")
        values = {k: v.strip() for k, v in (("name", name), ("email", email)) if v is not None}
        if "email" in values and values["email"] and "@" not in values["email"]:
            raise InvalidInput(f"{values['email']!r} is not an email address.")
        cmd.detail = dict(values)
        updated = cmd.uow.users.update(principal.user.id, **values)
        assert updated is not None
        return updated


def admin_exists(platform: Platform) -> bool:
    with platform.read() as uow:
        return bool(uow.users.count_admins())


def list_users(platform: Platform, principal: Principal, search: str = "") -> list[User]:
    # Any signed-in user may list users: adding a collaborator needs their names.
    with platform.read() as uow:
        return list(uow.users.search(search=search))


def get_user(platform: Platform, principal: Principal, username: str) -> User:
    with platform.read() as uow:
        user = uow.users.by_username(username)
        if user is None:
            raise NotFound(f"User {username!r} not found.")
        return user


def update_user(
    platform: Platform,
    principal: Principal | None,
    username: str,
    *,
    is_admin: bool | None = None,
    is_active: bool | None = None,
    name: str | None = None,
    email: str | None = None,
    password: str | None = None,
) -> User:
    with platform.command(principal, "user.update", target=username) as cmd:
        require_admin(principal)
        user = cmd.uow.users.by_username(username)
        if user is None:
            raise NotFound(f"User {username!r} not found.")
        values: dict[str, object] = {}
        if is_admin is not None:
            values["is_admin"] = is_admin
        if is_active is not None:
            values["is_active"] = is_active
        if name is not None:
            values["name"] = name.strip()
        if email is not None:
            values["email"] = email.strip()
        if password is not None:
            values["password_hash"] = hash_password(password, user.username)
        if not values:
            raise InvalidInput(
                "Nothing to change: send one or more of name, email, is_admin, is_active, password."
            )
        demoted = values.get("is_admin") is False or values.get("is_active") is False
        if demoted and user.is_admin and cmd.uow.users.count_admins() <= 1:
            raise Conflict("This is the last site administrator; promote another one first.")
        cmd.detail = {k: v for k, v in values.items() if k != "password_hash"}
        updated = cmd.uow.users.update(user.id, **values)
        if "password_hash" in values or values.get("is_active") is False:
            # A new password or a deactivation ends every browser session signed in before.
            cmd.uow.users.end_sessions(user.id)
            updated = cmd.uow.users.get(user.id)
        assert updated is not None
        return updated


# Teams -------------------------------------------------------------------------------


def create_team(
    platform: Platform, principal: Principal | None, name: str, description: str = ""
) -> Team:
    name = validate_username(name)
    with platform.command(principal, "team.create", target=name) as cmd:
        require_admin(principal)
        if cmd.uow.users.by_username(name) or cmd.uow.users.team_by_name(name):
            raise Conflict(f"The name {name!r} is already taken by a user or team.")
        return cmd.uow.users.add_team(name=name, description=description.strip())


def list_teams(platform: Platform, principal: Principal) -> list[Team]:
    with platform.read() as uow:
        return list(uow.users.list_teams())


def get_team(platform: Platform, principal: Principal, name: str) -> tuple[Team, list[TeamMember]]:
    with platform.read() as uow:
        team = _team(uow, name)
        return team, list(uow.users.team_members(team.id))


def set_team_member(
    platform: Platform, principal: Principal | None, team_name: str, username: str, role: str
) -> None:
    """Add a user to a team, or change the role they get on the team's projects."""
    with platform.command(principal, "team.set_member", target=f"{team_name}/{username}") as cmd:
        require_admin(principal)
        team = _team(cmd.uow, team_name)
        user = cmd.uow.users.by_username(username)
        if user is None:
            raise NotFound(f"User {username!r} not found.")
        try:
            parsed = Role(role)
        except ValueError:
            parsed = None
        if parsed not in COLLABORATOR_ROLES:
            allowed = ", ".join(r.value for r in COLLABORATOR_ROLES)
            raise InvalidInput(f"{role!r} is not a team role; use one of {allowed}.")
        cmd.uow.users.set_team_member(team.id, user.id, role)
        cmd.detail = {"role": role}


def remove_team_member(
    platform: Platform, principal: Principal | None, team_name: str, username: str
) -> None:
    with platform.command(principal, "team.remove_member", target=f"{team_name}/{username}") as cmd:
        require_admin(principal)
        team = _team(cmd.uow, team_name)
        user = cmd.uow.users.by_username(username)
        if user is None or not cmd.uow.users.remove_team_member(team.id, user.id):
            raise NotFound(f"{username!r} is not a member of team {team_name!r}.")


def delete_team(platform: Platform, principal: Principal | None, team_name: str) -> None:
    with platform.command(principal, "team.delete", target=team_name) as cmd:
        require_admin(principal)
        team = _team(cmd.uow, team_name)
        if cmd.uow.projects.count_owned_by_team(team.id):
            raise Conflict(f"Team {team_name!r} still owns projects; delete or move them first.")
        cmd.uow.users.delete_team(team.id)


def _team(uow: UnitOfWork, name: str) -> Team:
    team = uow.users.team_by_name(name)
    if team is None:
        raise NotFound(f"Team {name!r} not found.")
    return team
