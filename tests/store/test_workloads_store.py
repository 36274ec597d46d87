"""What users' workloads hold: summed per user over the workloads that started and have not
ended (quotas are checked against it)."""

from __future__ import annotations

from tests.store.test_projects_store import add_project, add_user

from lakeworks.entities.workloads import Resources, WorkloadKind, WorkloadStatus
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
