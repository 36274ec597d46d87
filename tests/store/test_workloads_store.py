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
