"""Credentials: passwords (argon2), API keys (hashed, shown once), logins, first-admin setup."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from lakeworks.entities.users import ApiKey, ApiKeyKind, User
from lakeworks.errors import InvalidInput, NotFound, PermissionDenied, RateLimited, Unauthenticated
from lakeworks.services.passwords import check_new_password
from lakeworks.services.platform import Platform, Principal, Via
from lakeworks.store.tables import utcnow
from lakeworks.store.uow import UnitOfWork

_hasher = PasswordHasher()
# Verified against when a username does not exist, so a failed login costs the same either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

V2_PREFIX = "lwk_"
_V1_ALPHABET = string.ascii_lowercase + string.digits


def hash_password(password: str, username: str = "") -> str:
    """Hash a *new* password, refusing one the policy forbids (``services.passwords``)."""
    check_new_password(password, username)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def hash_key(key: str) -> str:
    # API keys carry 190+ bits of randomness, so a fast hash is safe and lets us look keys
    # up by hash on every request; argon2 is for low-entropy secrets such as passwords.
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key(kind: ApiKeyKind) -> str:
    if kind is ApiKeyKind.V1:
        # CML's legacy keys are plain lowercase alphanumerics (used as a Basic-auth username).
        return "".join(secrets.choice(_V1_ALPHABET) for _ in range(40))
    return V2_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class NewApiKey:
    """A key as created: ``secret`` is shown once and never stored."""

    key: ApiKey
    secret: str


# Logins ------------------------------------------------------------------------------


def login(platform: Platform, username: str, password: str, address: str = "") -> User:
    """Check a username and password from client ``address``; audited either way.

    Throttled (``services.login_throttle``): an account or address with too many recent
    failures gets ``RateLimited`` before any hash is computed. Blocking (argon2): call it
    from a worker thread, as the sync UI route does."""
    throttle = platform.login_throttle
    try:
        throttle.check(username, address)
    except RateLimited:
        with platform.command(None, "user.login", target=username[:64]):
            raise
    with platform.read() as uow:
        user = uow.users.by_username(username.strip().lower())
        stored = uow.users.password_hash(user.id) if user else None
    with throttle.hashing():
        ok = verify_password(stored, password) and user is not None and user.is_active
    if not ok or user is None:
        throttle.failed(username, address)
        with platform.command(None, "user.login", target=username[:64]):
            raise Unauthenticated("Wrong username or password.")
    throttle.succeeded(username)
    with platform.command(Principal(user=user, via="session"), "user.login", target=user.username):
        pass
    return user


def change_password(platform: Platform, principal: Principal, old: str, new: str) -> User:
    """Change your own password; every earlier browser session of yours ends (the caller
    starts a fresh one for the browser that made the change). Returns the updated user."""
    with platform.command(principal, "user.password", target=principal.user.username) as cmd:
        stored = cmd.uow.users.password_hash(principal.user.id)
        with platform.login_throttle.hashing():
            if not verify_password(stored, old):
                raise PermissionDenied("The current password is wrong.")
            new_hash = hash_password(new, principal.user.username)
        cmd.uow.users.set_password_hash(principal.user.id, new_hash)
        cmd.uow.users.end_sessions(principal.user.id)
        user = cmd.uow.users.get(principal.user.id)
        assert user is not None
        return user


# Browser sessions ----------------------------------------------------------------------
#
# The signed session cookie names the user and the user's ``session_generation`` when it was
# issued. Logout, a password change, deactivation and an admin's "end sessions" move the
# generation, which ends every cookie issued before at once, on every server process (the
# user row is read on each request anyway). Chosen over a table of session rows: no write per
# sign-in, nothing to expire or clean up; the cost is that signing out ends the user's
# sessions in all browsers, which is also what someone who suspects a stolen cookie wants.


def session_data(user: User) -> dict[str, int]:
    """What a browser session cookie holds for ``user``."""
    return {"user_id": user.id, "gen": user.session_generation}


def session_user(platform: Platform, user_id: object, generation: object) -> User | None:
    """The user a session cookie names, if that cookie is still valid."""
    if not isinstance(user_id, int) or not isinstance(generation, int):
        return None
    with platform.read() as uow:
        user = uow.users.get(user_id)
    if user is None or not user.is_active or user.session_generation != generation:
        return None
    return user


def logout(platform: Platform, principal: Principal) -> None:
    """Sign out: every browser session of this user ends (the cookie could have been copied)."""
    with platform.command(principal, "user.logout", target=principal.user.username) as cmd:
        cmd.uow.users.end_sessions(principal.user.id)


def end_sessions(platform: Platform, principal: Principal, username: str) -> None:
    """End every browser session of ``username`` (yourself, or anyone for site admins)."""
    with platform.command(principal, "user.sessions_end", target=username) as cmd:
        if principal.project_scope is not None:
            raise PermissionDenied("Workload keys cannot end browser sessions.")
        if username != principal.user.username and not principal.is_admin:
            raise PermissionDenied("Only site administrators can end other people's sessions.")
        user = cmd.uow.users.by_username(username)
        if user is None:
            raise NotFound(f"User {username!r} not found.")
        cmd.uow.users.end_sessions(user.id)


# API keys ----------------------------------------------------------------------------


def create_api_key(
    platform: Platform,
    principal: Principal,
    username: str,
    *,
    name: str = "",
    expires_at: datetime | None = None,
    kind: ApiKeyKind = ApiKeyKind.V2,
) -> NewApiKey:
    """Create a key for ``username`` (yourself, or anyone for site admins)."""
    with platform.command(principal, f"api_key.create_{kind.value}", target=username) as cmd:
        user = _key_owner(cmd.uow, principal, username)
        if expires_at is not None and expires_at <= utcnow():
            raise InvalidInput("The expiry must be in the future.")
        if kind is ApiKeyKind.V1:
            # One legacy key per user, as in CML: a new one replaces the old.
            cmd.uow.users.revoke_api_keys_of(user.id, ApiKeyKind.V1, utcnow())
        secret = _new_key(kind)
        key = cmd.uow.users.add_api_key(
            user_id=user.id,
            kind=kind,
            name=name.strip()[:200],
            prefix=secret[:8],
            key_hash=hash_key(secret),
            expires_at=expires_at,
        )
        cmd.detail = {"key_id": key.id, "kind": kind.value}
        return NewApiKey(key=key, secret=secret)


def create_workload_key(
    platform: Platform, user: User, project_id: str, lifetime: timedelta, kind: ApiKeyKind
) -> NewApiKey:
    """A key of one user for a workload's environment (revoked at its end): it reaches that
    project only, or everything its user may reach under ``workload_key_scope = user``."""
    with platform.store.transaction() as uow:
        return add_workload_key(platform, uow, user, project_id, lifetime, kind)


def add_workload_key(
    platform: Platform,
    uow: UnitOfWork,
    user: User,
    project_id: str,
    lifetime: timedelta,
    kind: ApiKeyKind,
) -> NewApiKey:
    """``create_workload_key`` in the caller's transaction, audited there."""
    return add_workload_keys(platform, uow, user, project_id, lifetime, [kind])[0]


def add_workload_keys(
    platform: Platform,
    uow: UnitOfWork,
    user: User,
    project_id: str,
    lifetime: timedelta,
    kinds: list[ApiKeyKind],
) -> list[NewApiKey]:
    """A workload's keys, one of each of ``kinds``, in the caller's transaction (a launch
    records the workload, its keys and their audit rows in one), audited there."""
    return add_workload_keys_many(platform, uow, [(user, project_id, lifetime)], kinds)[0]


def add_workload_keys_many(
    platform: Platform,
    uow: UnitOfWork,
    workloads: Sequence[tuple[User, str, timedelta]],
    kinds: list[ApiKeyKind],
) -> list[list[NewApiKey]]:
    """``add_workload_keys`` for several workloads, each (user, project id, lifetime): one
    INSERT of all their keys and one of their audit rows (the same rows, one per key, as
    one workload at a time)."""
    now = utcnow()
    secrets_ = [[_new_key(kind) for kind in kinds] for _ in workloads]
    keys = uow.users.add_api_keys(
        [
            {
                "user_id": user.id,
                "kind": kind,
                "name": "workload",
                "prefix": secret[:8],
                "key_hash": hash_key(secret),
                "expires_at": now + lifetime,
                "project_id": project_id,
            }
            for (user, project_id, lifetime), secrets_of in zip(workloads, secrets_, strict=True)
            for kind, secret in zip(kinds, secrets_of, strict=True)
        ]
    )
    platform.audit_many(
        uow,
        None,
        "api_key.create_workload",
        [(user.username, project_id, None) for user, project_id, _ in workloads for _ in kinds],
    )
    made = iter(
        zip(keys, [secret for secrets_of in secrets_ for secret in secrets_of], strict=True)
    )
    return [
        [NewApiKey(key=key, secret=secret) for key, secret in itertools.islice(made, len(kinds))]
        for _ in workloads
    ]


def list_api_keys(platform: Platform, principal: Principal, username: str) -> list[ApiKey]:
    with platform.read() as uow:
        user = _key_owner(uow, principal, username)
        return list(uow.users.api_keys_of(user.id))


def revoke_api_key(platform: Platform, principal: Principal, username: str, key_id: int) -> None:
    with platform.command(principal, "api_key.revoke", target=f"{username}/{key_id}") as cmd:
        user = _key_owner(cmd.uow, principal, username)
        key = cmd.uow.users.get_api_key(key_id)
        if key is None or key.user_id != user.id:
            raise NotFound(f"API key {key_id} of {username!r} not found.")
        cmd.uow.users.revoke_api_key(key_id, utcnow())


def revoke_all_api_keys(platform: Platform, principal: Principal, username: str) -> None:
    with platform.command(principal, "api_key.revoke_all", target=username) as cmd:
        user = _key_owner(cmd.uow, principal, username)
        now = utcnow()
        for kind in ApiKeyKind:
            cmd.uow.users.revoke_api_keys_of(user.id, kind, now)


def _key_owner(uow: UnitOfWork, principal: Principal, username: str) -> User:
    if principal.project_scope is not None:
        raise PermissionDenied("Workload keys cannot manage API keys.")
    if username != principal.user.username and not principal.is_admin:
        raise PermissionDenied("You can only manage your own API keys.")
    user = uow.users.by_username(username)
    if user is None:
        raise NotFound(f"User {username!r} not found.")
    return user


def authenticate_key(
    platform: Platform, secret: str, kind: ApiKeyKind, *, note_use: bool = True
) -> Principal:
    """Resolve a presented key to a principal, or raise ``Unauthenticated`` saying why.

    ``note_use=False`` keeps it a pure read (the model gateway's checks write nothing)."""
    if not secret:
        raise Unauthenticated("No API key given.")
    now = utcnow()
    with platform.read() as uow:
        key = uow.users.api_key_by_hash(hash_key(secret))
        if key is None or key.kind is not kind:
            raise Unauthenticated("The API key is not valid.")
        if key.revoked_at is not None:
            raise Unauthenticated("The API key has been revoked.")
        if key.expires_at is not None and key.expires_at <= now:
            raise Unauthenticated("The API key has expired.")
        user = uow.users.get(key.user_id)
        if user is None or not user.is_active:
            raise Unauthenticated("The API key's user is deactivated.")
        # Only note use once a minute, so a busy client does not write on every request.
        if note_use and (key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1)):
            uow.users.touch_api_key(key.id, now)
    via: Via = "api_key" if kind is ApiKeyKind.V2 else "v1_key"
    user_wide = key.project_id is not None and platform.settings.workload_key_scope == "user"
    return Principal(
        user=user, via=via, project_scope=key.project_id, user_wide=user_wide, key_id=key.id
    )


# First-admin setup --------------------------------------------------------------------

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


class SetupToken:
    """A one-time secret printed at start-up while no admin exists; it creates the first admin."""

    def __init__(self) -> None:
        self._hash: str | None = None

    def issue(self) -> str:
        secret = secrets.token_urlsafe(18)
        self._hash = hash_key(secret)
        return secret

    @property
    def active(self) -> bool:
        return self._hash is not None

    def check(self, secret: str) -> None:
        if self._hash is None or not hmac.compare_digest(self._hash, hash_key(secret)):
            raise PermissionDenied("The setup secret is wrong or was already used.")

    def consume(self, secret: str) -> None:
        self.check(secret)
        self._hash = None
