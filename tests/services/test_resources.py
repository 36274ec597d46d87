"""services.resources: resource profiles and per-user quotas. Site administrators change them,
everyone else is refused (and the refusal is audited); sizes are bounded; a workload that does
not fit beside what its user's live workloads hold is refused with what is in use."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lakeworks import bounds
from lakeworks.entities.audit import Outcome
from lakeworks.entities.users import User
from lakeworks.entities.workloads import Resources, WorkloadKind, WorkloadStatus
from lakeworks.errors import InvalidInput, NotFound, PermissionDenied, QuotaExceeded
from lakeworks.services import audit, projects, resources
from lakeworks.services.platform import Platform, Principal


def as_(user: User) -> Principal:
    return Principal(user=user, via="cli")


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


def _events(platform: Platform, admin: User, prefix: str) -> list[tuple[str, str, Outcome]]:
    events, _ = audit.list_audit(platform, as_(admin), action_prefix=prefix)
    return [(e.actor, e.target, e.outcome) for e in reversed(events)]


def test_admins_add_and_delete_profiles_and_each_change_is_audited(
    platform: Platform, admin: User
) -> None:
    before = resources.profiles(platform, as_(admin))
    made = resources.add_profile(platform, as_(admin), "  Large  ", 4.0, 16384, gpu=1)
    assert (made.name, made.cpu, made.memory_mb, made.gpu) == ("Large", 4.0, 16384, 1)
    listed = resources.profiles(platform, as_(admin))
    assert {p.id for p in listed} == {p.id for p in [*before, made]}
    assert listed == sorted(listed, key=lambda p: (p.cpu, p.memory_mb))  # smallest first

    resources.delete_profile(platform, as_(admin), made.id)
    assert made.id not in [p.id for p in resources.profiles(platform, as_(admin))]
    with pytest.raises(NotFound):
        resources.delete_profile(platform, as_(admin), made.id)

    assert _events(platform, admin, "resource_profile.") == [
        ("root", "Large", Outcome.SUCCESS),
        ("root", str(made.id), Outcome.SUCCESS),
        ("root", str(made.id), Outcome.FAILED),
    ]


def test_others_cannot_change_profiles_and_the_refusal_is_audited(
    platform: Platform, admin: User, alice: User
) -> None:
    with pytest.raises(PermissionDenied):
        resources.add_profile(platform, as_(alice), "Huge", 8.0, 8192)
    existing = resources.profiles(platform, as_(alice))  # anyone may read them
    assert "Huge" not in [p.name for p in existing]
    if existing:
        with pytest.raises(PermissionDenied):
            resources.delete_profile(platform, as_(alice), existing[0].id)
        assert existing[0].id in [p.id for p in resources.profiles(platform, as_(admin))]
    denied = [e for e in _events(platform, admin, "resource_profile.") if e[0] == "alice"]
    assert denied and all(outcome is Outcome.DENIED for _, _, outcome in denied)


@pytest.mark.parametrize(
    ("name", "cpu", "memory_mb", "gpu"),
    [
        ("", 1.0, 1024, 0),
        ("   ", 1.0, 1024, 0),
        ("x" * (bounds.MAX_NAME + 1), 1.0, 1024, 0),
        ("zero cpu", 0.0, 1024, 0),
        ("too many cpus", bounds.MAX_CPU + 1, 1024, 0),
        ("no memory", 1.0, 0, 0),
        ("too much memory", 1.0, bounds.MAX_MEMORY_MB + 1, 0),
        ("negative gpu", 1.0, 1024, -1),
        ("too many gpus", 1.0, 1024, bounds.MAX_GPU + 1),
    ],
)
def test_a_profile_out_of_bounds_is_refused(
    platform: Platform, admin: User, name: str, cpu: float, memory_mb: int, gpu: int
) -> None:
    before = resources.profiles(platform, as_(admin))
    with pytest.raises(InvalidInput):
        resources.add_profile(platform, as_(admin), name, cpu, memory_mb, gpu)
    assert resources.profiles(platform, as_(admin)) == before


def test_a_quota_is_the_default_until_set_and_again_once_cleared(
    platform: Platform, admin: User, alice: User
) -> None:
    default = (platform.settings.quota_cpu, platform.settings.quota_memory_mb, False)
    assert resources.quota(platform, as_(alice), "alice") == default  # one's own
    resources.set_quota(platform, as_(admin), "alice", 2.5, 4096)
    assert resources.quota(platform, as_(alice), "alice") == (2.5, 4096, True)
    assert resources.quota(platform, as_(admin), "alice") == (2.5, 4096, True)
    usage = {u.username: u for u in resources.usage(platform, as_(admin))}
    assert (usage["alice"].cpu_quota, usage["alice"].own_quota) == (2.5, True)
    assert (usage["root"].cpu_quota, usage["root"].own_quota) == (default[0], False)
    resources.clear_quota(platform, as_(admin), "alice")
    assert resources.quota(platform, as_(alice), "alice") == default
    assert [a for a, _, _ in _events(platform, admin, "user.quota")] == ["root", "root"]


def test_only_admins_set_quotas_or_read_another_users(
    platform: Platform, admin: User, alice: User, make_user: Callable[..., User]
) -> None:
    make_user("bob")
    for refused in (
        lambda: resources.set_quota(platform, as_(alice), "alice", 64.0, 65536),
        lambda: resources.clear_quota(platform, as_(alice), "alice"),
        lambda: resources.quota(platform, as_(alice), "bob"),
        lambda: resources.usage(platform, as_(alice)),
    ):
        with pytest.raises(PermissionDenied):
            refused()
    assert resources.quota(platform, as_(alice), "alice")[2] is False
    assert _events(platform, admin, "user.quota") == [
        ("alice", "alice", Outcome.DENIED),
        ("alice", "alice", Outcome.DENIED),
    ]
    with pytest.raises(NotFound):
        resources.set_quota(platform, as_(admin), "nobody", 1.0, 1024)
    with pytest.raises(InvalidInput):
        resources.set_quota(platform, as_(admin), "alice", 0.0, 1024)
    with pytest.raises(InvalidInput):
        resources.set_quota(platform, as_(admin), "alice", 1.0, bounds.MAX_MEMORY_MB + 1)


def _running(platform: Platform, user: User, project_id: str, cpu: float, memory: int) -> None:
    with platform.store.transaction() as uow:
        workload_id = f"w-{cpu}-{memory}"
        uow.workloads.add(
            workload_id=workload_id,
            kind=WorkloadKind.SESSION,
            project_id=project_id,
            user_id=user.id,
            executor="fake",
            log_path="",
            resources=Resources(cpu=cpu, memory_mb=memory),
        )
        assert uow.workloads.move(workload_id, WorkloadStatus.PENDING, WorkloadStatus.STARTING)
        assert uow.workloads.move(workload_id, WorkloadStatus.STARTING, WorkloadStatus.RUNNING)


def test_a_workload_that_does_not_fit_beside_the_live_ones_is_refused(
    platform: Platform, admin: User, alice: User
) -> None:
    project = projects.create(
        platform, as_(alice), name="Quota", source=projects.parse_source("", "")
    )
    resources.set_quota(platform, as_(admin), "alice", 4.0, 8192)
    _running(platform, alice, project.id, 3.0, 2048)
    settings = platform.settings
    with platform.store.transaction() as uow:
        resources.require_room(uow, settings, alice.id, 1.0, 6144, what="A session")
        with pytest.raises(QuotaExceeded, match=r"3 of 4 vCPU and 2048 of 8192 MiB"):
            resources.require_room(uow, settings, alice.id, 1.5, 1024, what="A session")
        with pytest.raises(QuotaExceeded, match="^An application needs 1 vCPU / 6145 MiB"):
            resources.require_room(uow, settings, alice.id, 1.0, 6145, what="An application")
        # A restart frees what the workload it replaces holds.
        resources.require_room(
            uow, settings, alice.id, 4.0, 4096, what="A restart", releasing=(3.0, 2048)
        )
    usage = {u.username: u for u in resources.usage(platform, as_(admin))}
    assert (usage["alice"].cpu_held, usage["alice"].memory_held_mb) == (3.0, 2048)
    assert (usage["root"].cpu_held, usage["root"].memory_held_mb) == (0.0, 0)
