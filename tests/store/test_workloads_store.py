"""WorkloadRepo on the test backend: what users' workloads hold (summed per user over the
workloads that started and have not ended; quotas are checked against it), records and
lookups, the records that own workloads, resource profiles and quotas."""

from __future__ import annotations

import pytest
from sqlalchemy import delete
from tests.store.factories import (
    add_application,
    add_build,
    add_deployment,
    add_job,
    add_model,
    add_run,
    add_session,
    add_workload,
    at,
)
from tests.store.test_projects_store import add_project, add_user

from lakeworks.entities.status import IllegalTransition
from lakeworks.entities.workloads import (
    FINAL_STATUSES,
    TRANSITIONS,
    Resources,
    WorkloadKind,
    WorkloadStatus,
)
from lakeworks.errors import Conflict
from lakeworks.store.tables import UserRow
from lakeworks.store.uow import Store


def test_held_resources_count_started_unfinished_workloads_per_user(store: Store) -> None:
    alice, bob, carol = (add_user(store, name) for name in ("alice", "bob", "carol"))
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        for n, (user, cpu, memory, status) in enumerate(
            [
                (alice, 1.0, 1024, WorkloadStatus.RUNNING),
                (alice, 0.5, 512, WorkloadStatus.STARTING),
                (alice, 4.0, 4096, WorkloadStatus.SUCCEEDED),  # ended: holds nothing
                (alice, 8.0, 8192, WorkloadStatus.PENDING),  # not started: holds nothing yet
                (bob, 2.0, 2048, WorkloadStatus.STOPPING),
            ]
        ):
            uow.workloads.add(
                workload_id=f"w{n}",
                kind=WorkloadKind.JOB_RUN,
                project_id=project,
                user_id=user.id,
                executor="local",
                log_path="",
                resources=Resources(cpu=cpu, memory_mb=memory),
            )
            # Along the transition table: pending → starting → running → stopping/ended.
            path = {
                WorkloadStatus.STARTING: [WorkloadStatus.STARTING],
                WorkloadStatus.RUNNING: [WorkloadStatus.STARTING, WorkloadStatus.RUNNING],
                WorkloadStatus.STOPPING: [
                    WorkloadStatus.STARTING,
                    WorkloadStatus.RUNNING,
                    WorkloadStatus.STOPPING,
                ],
                WorkloadStatus.SUCCEEDED: [WorkloadStatus.STARTING, WorkloadStatus.SUCCEEDED],
            }.get(status, [])
            current = WorkloadStatus.PENDING
            for step in path:
                assert uow.workloads.move(f"w{n}", current, step)
                current = step
    with store.transaction() as uow:
        assert uow.workloads.held_by_users() == {alice.id: (1.5, 1536), bob.id: (2.0, 2048)}
        assert uow.workloads.held_by_users([bob.id, carol.id]) == {bob.id: (2.0, 2048)}
        assert uow.workloads.held_by_user(alice.id) == (1.5, 1536)
        assert uow.workloads.held_by_user(carol.id) == (0.0, 0)
        uow.workloads.set_quota(carol.id, 2.0, 4096)
        assert uow.workloads.quotas() == {carol.id: (2.0, 4096)}
        assert uow.workloads.clear_quota(carol.id) is True
        assert uow.workloads.clear_quota(carol.id) is False
        assert uow.workloads.quotas() == {}


# Records, lookups and the tables that own workloads -----------------------------------------


def test_a_workload_reads_back_with_its_resources_and_keys(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        made = add_workload(
            uow,
            "w1",
            project,
            alice.id,
            WorkloadKind.SESSION,
            resources=Resources(cpu=0.5, memory_mb=256, gpu=1),
            api_key_ids=[3, 1],
            log_path="/logs/w1.log",
            name="explore",
        )
        uow.workloads.set("w1", handle={"executor": "local", "pid": 42}, address="127.0.0.1:9")
    with store.transaction() as uow:
        found = uow.workloads.get("w1")
        keys = uow.workloads.key_ids("w1")
        none = uow.workloads.key_ids("unknown")
        missing = uow.workloads.get("unknown")
    assert made.status is WorkloadStatus.PENDING and made.handle == {}
    assert found is not None
    assert (found.kind, found.resources, found.log_path, found.name) == (
        WorkloadKind.SESSION,
        Resources(cpu=0.5, memory_mb=256, gpu=1),
        "/logs/w1.log",
        "explore",
    )
    assert (found.handle, found.address) == ({"executor": "local", "pid": 42}, "127.0.0.1:9")
    assert (found.exit_code, found.parent_id, found.started_at) == (None, None, None)
    assert (keys, none, missing) == ([3, 1], [], None)


@pytest.mark.parametrize("status", list(WorkloadStatus), ids=str)
def test_a_workload_is_recorded_pending_or_already_moved_along_the_table(
    store: Store, status: WorkloadStatus
) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
    legal = status is WorkloadStatus.PENDING or status in TRANSITIONS[WorkloadStatus.PENDING]
    if legal:
        with store.transaction() as uow:
            assert add_workload(uow, "w", project, alice.id, status=status).status is status
    else:
        with pytest.raises(IllegalTransition), store.transaction() as uow:
            add_workload(uow, "w", project, alice.id, status=status)
        with store.transaction() as uow:
            assert uow.workloads.get("w") is None


def test_workload_ids_are_unique(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        add_workload(uow, "w", project, alice.id)
    with pytest.raises(Conflict), store.transaction() as uow:
        add_workload(uow, "w", project, alice.id, WorkloadKind.SESSION)
    with store.transaction() as uow:
        found = uow.workloads.get("w")
    assert found is not None and found.kind is WorkloadKind.JOB_RUN


def test_with_status_lists_oldest_first(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        for n, status in [
            (2, WorkloadStatus.STARTING),
            (0, WorkloadStatus.STARTING),
            (1, WorkloadStatus.FAILED),
        ]:
            add_workload(uow, f"w{n}", project, alice.id, status=status, created_at=at(n))
        starting = [w.id for w in uow.workloads.with_status(WorkloadStatus.STARTING)]
        ended = [w.id for w in uow.workloads.with_status(*FINAL_STATUSES)]
        none = uow.workloads.with_status()
    assert starting == ["w0", "w2"]
    assert ended == ["w1"]
    assert none == []


def test_get_many_reads_the_workloads_that_exist(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        add_workload(uow, "w1", project, alice.id, status=WorkloadStatus.FAILED)
        add_workload(uow, "w2", project, alice.id, status=WorkloadStatus.STARTING)
        found = uow.workloads.get_many(["w2", "w1", "gone"])
        none = uow.workloads.get_many([])
    assert {w.id: w.status for w in found.values()} == {
        "w1": WorkloadStatus.FAILED,
        "w2": WorkloadStatus.STARTING,
    }
    assert set(found) == {"w1", "w2"}
    assert none == {}


def test_children_are_the_workers_a_workload_launched(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        add_workload(uow, "parent", project, alice.id, WorkloadKind.SESSION)
        for n in (1, 0):
            add_workload(
                uow,
                f"worker{n}",
                project,
                alice.id,
                WorkloadKind.WORKER,
                parent_id="parent",
                created_at=at(n),
            )
        add_workload(uow, "stranger", project, alice.id)
        children = [w.id for w in uow.workloads.children("parent")]
        none = uow.workloads.children("stranger")
    assert children == ["worker0", "worker1"]
    assert none == []


def test_owned_names_the_workloads_a_record_points_at(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        add_job(uow, "job", project, alice.id)
        add_run(uow, "run", "job", project, alice.id, workload_id="w-run")
        add_session(uow, "sess", project, alice.id, workload_id="w-sess")
        add_application(uow, "app", project, alice.id, workload_id="w-app")
        add_model(uow, "m", project, alice.id)
        build = add_build(uow, "b", "m", project, alice.id, workload_id="w-build")
        add_deployment(uow, "d", build, alice.id)
        uow.models.add_replica("w-replica", "d", 0, 0, 0)
        add_session(uow, "no-workload", project, alice.id)
        owned = uow.workloads.owned(
            ["w-run", "w-sess", "w-app", "w-build", "w-replica", "w-orphan"]
        )
        many = uow.workloads.owned([f"x{n}" for n in range(1200)] + ["w-app"])
        empty = uow.workloads.owned([])
    assert owned == {"w-run", "w-sess", "w-app", "w-build", "w-replica"}
    assert many == {"w-app"}, "ids past the first batch of 500 are looked up too"
    assert empty == frozenset()


def test_deleting_the_project_deletes_its_workloads(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        kept = add_project(uow, "Kept", owner=alice)
        add_workload(uow, "doomed", project, alice.id)
        add_workload(uow, "kept", kept, alice.id)
        uow.projects.delete(project)
    with store.transaction() as uow:
        assert uow.workloads.get("doomed") is None
        assert uow.workloads.get("kept") is not None


# Resource profiles and quotas -----------------------------------------------------------------


def test_profiles_are_seeded_and_sorted_by_size(store: Store) -> None:
    with store.transaction() as uow:
        seeded = uow.workloads.profiles()
        added = uow.workloads.add_profile("tiny", 0.25, 256, 0)
        big = uow.workloads.add_profile("gpu", 64.0, 65536, 1)
        after = uow.workloads.profiles()
    assert seeded, "a fresh database has default profiles"
    sizes = [(p.cpu, p.memory_mb) for p in after]
    assert sizes == sorted(sizes)
    assert after[0] == added and after[-1] == big
    assert (big.name, big.cpu, big.memory_mb, big.gpu) == ("gpu", 64.0, 65536, 1)


def test_a_profile_name_is_unique_and_profiles_can_be_deleted(store: Store) -> None:
    with store.transaction() as uow:
        profile = uow.workloads.add_profile("custom", 3.0, 3072, 0)
    with pytest.raises(Conflict), store.transaction() as uow:
        uow.workloads.add_profile("custom", 1.0, 1024, 0)
    with store.transaction() as uow:
        assert uow.workloads.delete_profile(profile.id) is True
    with store.transaction() as uow:
        assert uow.workloads.delete_profile(profile.id) is False
    with store.transaction() as uow:
        assert "custom" not in [p.name for p in uow.workloads.profiles()]


def test_a_quota_is_set_replaced_and_cleared(store: Store) -> None:
    alice, bob = add_user(store, "alice"), add_user(store, "bob")
    with store.transaction() as uow:
        assert uow.workloads.quota(alice.id) is None
        uow.workloads.set_quota(alice.id, 4.0, 8192)
        uow.workloads.set_quota(alice.id, 2.0, 4096)
        uow.workloads.set_quota(bob.id, 1.0, 1024)
    with store.transaction() as uow:
        assert uow.workloads.quota(alice.id) == (2.0, 4096)
        assert uow.workloads.quotas() == {alice.id: (2.0, 4096), bob.id: (1.0, 1024)}
    with store.transaction() as uow:
        uow.session.execute(delete(UserRow).where(UserRow.id == bob.id))
    with store.transaction() as uow:
        assert uow.workloads.quotas() == {alice.id: (2.0, 4096)}, "a quota goes with its user"


def test_a_batch_records_and_moves_many_workloads_each_with_its_own_values(store: Store) -> None:
    """The dispatcher's batch (issue 17): records added in one INSERT read back as recorded,
    and a move of many rows moves exactly those still at the expected status, each with its
    own handle and address."""
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        added = uow.workloads.add_many(
            [
                {
                    "workload_id": f"b{n}",
                    "kind": WorkloadKind.JOB_RUN,
                    "project_id": project,
                    "user_id": alice.id,
                    "executor": "local",
                    "log_path": f"/logs/b{n}.log",
                    "resources": Resources(cpu=0.5 * (n + 1), memory_mb=256),
                    "status": WorkloadStatus.STARTING,
                    "api_key_ids": [n, n + 10],
                }
                for n in range(3)
            ]
        )
    with store.transaction() as uow:
        assert [uow.workloads.get(w.id) for w in added] == added
        assert added[2].resources.cpu == 1.5 and uow.workloads.key_ids("b1") == [1, 11]
        # Stopped while it started: the batch's move must leave it as it is.
        assert uow.workloads.move("b1", WorkloadStatus.STARTING, WorkloadStatus.STOPPING)
    with store.transaction() as uow:
        moved = uow.workloads.move_many(
            WorkloadStatus.STARTING,
            WorkloadStatus.RUNNING,
            [
                {"id": f"b{n}", "handle": {"pid": 100 + n}, "address": f"127.0.0.1:{n}"}
                for n in range(3)
            ],
        )
    assert moved == {"b0", "b2"}
    with store.transaction() as uow:
        b0, b1, b2 = (uow.workloads.get(f"b{n}") for n in range(3))
    assert b0 is not None and b0.status is WorkloadStatus.RUNNING
    assert b0.handle == {"pid": 100} and b0.address == "127.0.0.1:0"
    assert b2 is not None and b2.handle == {"pid": 102}
    assert b1 is not None and b1.status is WorkloadStatus.STOPPING and b1.handle == {}
    with store.transaction() as uow:  # all moved: the count alone says so
        assert uow.workloads.move_many(
            WorkloadStatus.RUNNING,
            WorkloadStatus.STOPPING,
            [{"id": "b0", "reason": "a"}, {"id": "b2", "reason": "b"}],
        ) == {"b0", "b2"}
        assert (uow.workloads.get("b2") or b2).reason == "b"
