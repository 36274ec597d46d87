"""Resource profiles (admin-defined sizes for workloads) and per-user quotas."""

from __future__ import annotations

from dataclasses import dataclass

from lakeworks import bounds
from lakeworks.config import Settings
from lakeworks.entities.jobs import ResourceProfile
from lakeworks.errors import InvalidInput, NotFound, QuotaExceeded
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.users import require_admin
from lakeworks.store.uow import UnitOfWork


def profiles(platform: Platform, principal: Principal) -> list[ResourceProfile]:
    with platform.read() as uow:
        return list(uow.workloads.profiles())


def add_profile(
    platform: Platform, principal: Principal, name: str, cpu: float, memory_mb: int, gpu: int = 0
) -> ResourceProfile:
    name = name.strip()  # the audit row names the profile as it is stored
    with platform.command(principal, "resource_profile.create", target=name) as cmd:
        require_admin(principal)
        if not name:
            raise InvalidInput("A resource profile needs a name.")
        bounds.check_name("A resource profile name", name)
        bounds.check_resources(cpu, memory_mb, gpu)
        cmd.detail = {"cpu": cpu, "memory_mb": memory_mb, "gpu": gpu}
        return cmd.uow.workloads.add_profile(name, cpu, memory_mb, gpu)


def delete_profile(platform: Platform, principal: Principal, profile_id: int) -> None:
    with platform.command(principal, "resource_profile.delete", target=str(profile_id)) as cmd:
        require_admin(principal)
        if not cmd.uow.workloads.delete_profile(profile_id):
            raise NotFound(f"Resource profile {profile_id} not found.")


def quota(platform: Platform, principal: Principal, username: str) -> tuple[float, int, bool]:
    """(vCPU, MiB, whether it is the user's own quota rather than the default)."""
    with platform.read() as uow:
        if username != principal.user.username:
            require_admin(principal)
        user = uow.users.by_username(username)
        if user is None:
            raise NotFound(f"User {username!r} not found.")
        own = uow.workloads.quota(user.id)
    if own is not None:
        return own[0], own[1], True
    return platform.settings.quota_cpu, platform.settings.quota_memory_mb, False


def set_quota(
    platform: Platform, principal: Principal, username: str, cpu: float, memory_mb: int
) -> None:
    with platform.command(principal, "user.quota", target=username) as cmd:
        require_admin(principal)
        bounds.check_resources(cpu, memory_mb)
        user = cmd.uow.users.by_username(username)
        if user is None:
            raise NotFound(f"User {username!r} not found.")
        cmd.uow.workloads.set_quota(user.id, cpu, memory_mb)
        cmd.detail = {"cpu": cpu, "memory_mb": memory_mb}


def clear_quota(platform: Platform, principal: Principal, username: str) -> None:
    """Put a user back on the default quota (``LAKEWORKS_QUOTA_CPU``/``_MEMORY_MB``)."""
    with platform.command(principal, "user.quota_clear", target=username) as cmd:
        require_admin(principal)
        user = cmd.uow.users.by_username(username)
        if user is None:
            raise NotFound(f"User {username!r} not found.")
        cmd.uow.workloads.clear_quota(user.id)


@dataclass(frozen=True)
class Usage:
    """One user's quota and what their live workloads hold now."""

    username: str
    name: str
    is_active: bool
    cpu_quota: float
    memory_quota_mb: int
    own_quota: bool  # False: the default quota applies
    cpu_held: float
    memory_held_mb: int


def usage(platform: Platform, principal: Principal) -> list[Usage]:
    """Every user's quota and current use, for site administrators."""
    require_admin(principal)
    settings = platform.settings
    with platform.read() as uow:
        people = uow.users.search()
        quotas = uow.workloads.quotas()
        held = uow.workloads.held_by_users()
    rows = []
    for user in people:
        own = quotas.get(user.id)
        cpu, memory = own or (settings.quota_cpu, settings.quota_memory_mb)
        cpu_held, memory_held = held.get(user.id, (0.0, 0))
        rows.append(
            Usage(
                username=user.username,
                name=user.name,
                is_active=user.is_active,
                cpu_quota=cpu,
                memory_quota_mb=memory,
                own_quota=own is not None,
                cpu_held=cpu_held,
                memory_held_mb=memory_held,
            )
        )
    return rows


def require_room(
    uow: UnitOfWork,
    settings: Settings,
    user_id: int,
    cpu: float,
    memory_mb: int,
    *,
    what: str,
    releasing: tuple[float, int] = (0.0, 0),
) -> None:
    """Refuse (``QuotaExceeded``) a workload of ``cpu``/``memory_mb`` that the user's quota has
    no room for beside what their live workloads hold. ``releasing``: what a workload being
    replaced holds now (a restart frees it). Jobs wait for room instead (``job_runs.claim``);
    sessions and applications start now or not at all, so they are refused."""
    limit_cpu, limit_mem = uow.workloads.quota(user_id) or (
        settings.quota_cpu,
        settings.quota_memory_mb,
    )
    held_cpu, held_mem = uow.workloads.held_by_user(user_id)
    held_cpu = max(0.0, held_cpu - releasing[0])
    held_mem = max(0, held_mem - releasing[1])
    if held_cpu + cpu > limit_cpu or held_mem + memory_mb > limit_mem:
        raise QuotaExceeded(
            f"{what} needs {cpu:g} vCPU / {memory_mb} MiB; {held_cpu:g} of {limit_cpu:g} vCPU "
            f"and {held_mem} of {limit_mem} MiB of the quota are in use. Stop a session, job "
            "or application first."
        )
