"""The real ``mlflow`` client against the embedded server: scoping, auth and bad input."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from tests.tracking.live import LiveServer

from lakeworks.entities.projects import Role
from lakeworks.entities.users import ApiKeyKind, User
from lakeworks.services import auth, projects
from lakeworks.services.platform import Platform, Principal


def _project(platform: Platform, user: User, name: str) -> str:
    return projects.create(
        platform, Principal(user=user, via="cli"), name=name, source=projects.parse_source("", "")
    ).id


def _workload_key(platform: Platform, user: User, project_id: str) -> str:
    from datetime import timedelta

    return auth.create_workload_key(
        platform, user, project_id, timedelta(hours=1), ApiKeyKind.V2
    ).secret


def _user_key(platform: Platform, user: User) -> str:
    return auth.create_api_key(platform, Principal(user=user, via="cli"), user.username).secret


def test_workload_logs_a_run_into_its_project(
    server: LiveServer, make_user: Callable[..., User], mlflow_env: Callable[[str], None]
) -> None:
    import mlflow

    platform = server.platform
    alice = make_user("alice")
    project_id = _project(platform, alice, "churn")
    mlflow_env(_workload_key(platform, alice, project_id))

    experiment = mlflow.set_experiment("churn-exp")
    assert experiment.artifact_location.endswith(
        f"/home/cdsw/.experiments/{experiment.experiment_id}"
    )
    assert experiment.tags["lakeworks.project_id"] == project_id
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"l1": 1, "solver": "saga"})
        mlflow.log_metric("rmse", 0.7)
        mlflow.log_metrics({"mae": 0.3, "r2": 0.9}, step=2)
        mlflow.set_tags({"team": "ds", "n": 3})
    assert run.info.artifact_uri.endswith(
        f"/home/cdsw/.experiments/{experiment.experiment_id}/{run.info.run_id}/artifacts"
    )
    found = mlflow.search_runs(experiment.experiment_id)
    assert list(found["run_id"]) == [run.info.run_id]
    assert found["params.alpha"][0] == "0.5"
    assert found["metrics.rmse"][0] == 0.7
    assert MlflowClient().get_experiment(experiment.experiment_id).name == "churn-exp"
    fetched = MlflowClient().get_run(run.info.run_id)
    assert fetched.data.params["solver"] == "saga"
    assert fetched.data.tags["team"] == "ds"


def test_other_projects_users_see_nothing_and_cannot_write(
    server: LiveServer, make_user: Callable[..., User], mlflow_env: Callable[[str], None]
) -> None:
    import mlflow

    platform = server.platform
    alice, mallory = make_user("alice"), make_user("mallory")
    project_a = _project(platform, alice, "a")
    project_m = _project(platform, mallory, "m")
    mlflow_env(_workload_key(platform, alice, project_a))
    experiment_id = mlflow.create_experiment("secret-exp")
    run_id = MlflowClient().create_run(experiment_id).info.run_id

    # Mallory's own key (not project scoped) and her workload key of project M.
    for key in (_user_key(platform, mallory), _workload_key(platform, mallory, project_m)):
        mlflow_env(key)
        client = MlflowClient()
        assert [e.name for e in client.search_experiments()] == []
        assert mlflow.get_experiment_by_name("secret-exp") is None
        with pytest.raises(MlflowException, match="not found") as raised:
            client.get_experiment(experiment_id)
        assert raised.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        with pytest.raises(MlflowException, match="not found"):
            client.get_run(run_id)
        with pytest.raises(MlflowException, match="not found"):
            client.log_metric(run_id, "hacked", 1.0)
        with pytest.raises(MlflowException, match="not found"):
            client.search_runs([experiment_id])

    # A workload key of project M cannot create into project A by tag either.
    mlflow_env(_workload_key(platform, mallory, project_m))
    with pytest.raises(MlflowException, match="own project"):
        MlflowClient().create_experiment("sneaky", tags={"lakeworks.project_id": project_a})
    mlflow_env(_workload_key(platform, alice, project_a))
    assert "hacked" not in MlflowClient().get_run(run_id).data.metrics


def test_viewer_reads_but_cannot_write(
    server: LiveServer, make_user: Callable[..., User], mlflow_env: Callable[[str], None]
) -> None:
    import mlflow

    platform = server.platform
    alice, victor = make_user("alice"), make_user("victor")
    project_id = _project(platform, alice, "a")
    projects.set_collaborator(
        platform, Principal(user=alice, via="cli"), project_id, "victor", Role.VIEWER.value
    )
    mlflow_env(_workload_key(platform, alice, project_id))
    experiment_id = mlflow.create_experiment("shared")
    run_id = MlflowClient().create_run(experiment_id).info.run_id

    mlflow_env(_user_key(platform, victor))
    client = MlflowClient()
    assert [e.experiment_id for e in client.search_experiments()] == [experiment_id]
    assert client.get_run(run_id).info.experiment_id == experiment_id
    with pytest.raises(MlflowException, match="contributor") as raised:
        client.log_param(run_id, "x", "1")
    assert raised.value.error_code == "PERMISSION_DENIED"


def test_bad_input_gets_clear_errors(
    server: LiveServer, make_user: Callable[..., User], mlflow_env: Callable[[str], None]
) -> None:
    import mlflow

    platform = server.platform
    alice = make_user("alice")
    project_id = _project(platform, alice, "a")
    key = _workload_key(platform, alice, project_id)
    mlflow_env(key)
    client = MlflowClient()
    with pytest.raises(MlflowException, match="Experiment '987654' not found"):
        client.get_experiment("987654")
    with pytest.raises(MlflowException, match="not found"):
        client.search_runs(["987654"])
    # The Default experiment belongs to no project.
    with pytest.raises(MlflowException, match="not found"):
        client.create_run("0")
    experiment_id = mlflow.create_experiment("e")
    run_id = client.create_run(experiment_id).info.run_id
    with pytest.raises(MlflowException, match="set by Lakeworks"):
        client.set_tag(run_id, "lakeworks.project_id", "other")

    api = f"{server.url}/mlflow/api/2.0/mlflow"
    # No credentials at all.
    response = httpx.get(f"{api}/experiments/search", params={"max_results": 10})
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"
    assert "MLFLOW_TRACKING_TOKEN" in response.json()["message"]
    # A wrong key.
    response = httpx.get(
        f"{api}/experiments/get",
        params={"experiment_id": experiment_id},
        headers={"Authorization": "Bearer lwk_nope"},
    )
    assert response.status_code == 401
    headers = {"Authorization": f"Bearer {key}"}
    # Endpoints Lakeworks does not offer, and broken bodies.
    webhooks = httpx.get(f"{api}/webhooks", headers=headers)
    assert webhooks.status_code == 404 and "not available" in webhooks.json()["message"]
    assert httpx.post(f"{server.url}/mlflow/graphql", headers=headers, json={}).status_code == 400
    response = httpx.post(f"{api}/runs/log-metric", headers=headers, content=b"{not json")
    assert response.status_code == 400
    # An oversize request (e.g. a huge artifact or batch) is refused; the server keeps going.
    big = b"x" * (server.settings.max_upload_bytes + 1)
    response = httpx.post(f"{api}/runs/log-batch", headers=headers, content=big)
    assert response.status_code == 413
    assert client.get_run(run_id).info.run_id == run_id


def test_revoked_keys_and_removed_members_are_refused_at_once(
    server: LiveServer, make_user: Callable[..., User], mlflow_env: Callable[[str], None]
) -> None:
    # The gate keeps recent identities and allowed checks (tracking_auth_cache_seconds, 5 s
    # here): changes made through the server must still apply to the very next call.
    platform = server.platform
    alice, bob = make_user("alice"), make_user("bob")
    as_alice = Principal(user=alice, via="cli")
    project_id = _project(platform, alice, "a")
    projects.set_collaborator(platform, as_alice, project_id, "bob", Role.CONTRIBUTOR.value)
    mlflow_env(_workload_key(platform, alice, project_id))
    run_id = MlflowClient().create_run(MlflowClient().create_experiment("e")).info.run_id

    mlflow_env(_user_key(platform, bob))
    MlflowClient().log_metric(run_id, "loss", 0.5)
    MlflowClient().log_metric(run_id, "loss", 0.4)
    projects.remove_collaborator(platform, as_alice, project_id, "bob")
    with pytest.raises(MlflowException, match="not found"):
        MlflowClient().log_metric(run_id, "loss", 0.3)

    key = auth.create_api_key(platform, as_alice, "alice")
    mlflow_env(key.secret)
    MlflowClient().log_metric(run_id, "loss", 0.2)
    auth.revoke_api_key(platform, as_alice, "alice", key.key.id)
    with pytest.raises(MlflowException, match="revoked") as raised:
        MlflowClient().log_metric(run_id, "loss", 0.1)
    assert raised.value.error_code == "UNAUTHENTICATED"
    mlflow_env(_workload_key(platform, alice, project_id))
    assert [m.value for m in MlflowClient().get_metric_history(run_id, "loss")] == [0.5, 0.4, 0.2]


def test_repeated_calls_do_not_look_the_key_and_membership_up_again(
    server: LiveServer, make_user: Callable[..., User], mlflow_env: Callable[[str], None]
) -> None:
    from sqlalchemy import event

    platform = server.platform
    alice = make_user("alice")
    project_id = _project(platform, alice, "a")
    mlflow_env(_workload_key(platform, alice, project_id))
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    client.log_metric(run_id, "loss", 1.0)

    lookups: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "api_keys" in statement or "project_members" in statement:
            lookups.append(statement)

    event.listen(platform.store.engine, "before_cursor_execute", note)
    try:
        for step in range(5):
            client.log_metric(run_id, "loss", 0.5, step=step)
    finally:
        event.remove(platform.store.engine, "before_cursor_execute", note)
    assert lookups == []
    assert len(client.get_metric_history(run_id, "loss")) == 6


def test_runs_belong_to_who_ran_them_and_the_ui_finds_no_error_or_orphan(
    server: LiveServer,
    make_user: Callable[..., User],
    mlflow_env: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mlflow

    platform = server.platform
    alice = make_user("alice", is_admin=True)
    project_id = _project(platform, alice, "churn")
    mlflow_env(_workload_key(platform, alice, project_id))
    # Inside a workload the client takes the OS account (root or cdsw) for the user.
    monkeypatch.setenv("LOGNAME", "root")
    monkeypatch.setenv("USER", "root")
    mlflow.set_experiment("churn-exp")
    with mlflow.start_run() as run:
        mlflow.log_metric("rmse", 0.7)
    fetched = MlflowClient().get_run(run.info.run_id)
    assert fetched.info.user_id == "alice"
    assert fetched.data.tags["mlflow.user"] == "alice"

    # What MLflow's UI asks on every page, as the browser asks it (an administrator).
    key = _user_key(platform, alice)
    headers = {"Authorization": f"Bearer {key}"}
    gateway = httpx.get(
        f"{server.url}/mlflow/ajax-api/2.0/mlflow/gateway-proxy",
        params={"gateway_path": "api/2.0/endpoints/"},
        headers=headers,
    )
    assert gateway.status_code == 200
    assert gateway.json() == {"endpoints": []}
    listed = httpx.post(
        f"{server.url}/mlflow/ajax-api/2.0/mlflow/experiments/search",
        json={"max_results": 100},
        headers=headers,
    )
    assert listed.status_code == 200
    assert [e["name"] for e in listed.json()["experiments"]] == ["churn-exp"]


GET_EXPERIMENT = """query MlflowGetExperimentQuery($input: MlflowGetExperimentInput) {
  mlflowGetExperiment(input: $input) { experiment { experimentId name tags { key value } } }
}"""


def test_mlflow3_logged_models_graphql_and_ui_calls_are_scoped(
    server: LiveServer, make_user: Callable[..., User], mlflow_env: Callable[[str], None]
) -> None:
    platform = server.platform
    alice, mallory = make_user("alice"), make_user("mallory")
    project_a = _project(platform, alice, "a")
    _project(platform, mallory, "m")
    mlflow_env(_workload_key(platform, alice, project_a))
    client = MlflowClient()
    experiment_id = client.create_experiment("models-exp")
    # Lakeworks' experiments open in MLflow 3's classic view (runs table).
    kind = client.get_experiment(experiment_id).tags["mlflow.experimentKind"]
    assert kind == "custom_model_development"
    run = client.create_run(experiment_id)
    # An MLflow 3 logged model of a run lives in the run's artifacts (CML compat §9).
    logged = client.create_logged_model(experiment_id, name="clf", source_run_id=run.info.run_id)
    assert logged.artifact_location == f"{run.info.artifact_uri}/clf"
    unattached = client.create_logged_model(experiment_id, name="free")
    assert unattached.artifact_location.startswith(f"/home/cdsw/.experiments/{experiment_id}/")
    client.finalize_logged_model(logged.model_id, "READY")
    found = client.search_logged_models(experiment_ids=[experiment_id])
    assert {m.name for m in found} == {"clf", "free"}

    alice_headers = {"Authorization": f"Bearer {_user_key(platform, alice)}"}
    mallory_headers = {"Authorization": f"Bearer {_user_key(platform, mallory)}"}
    base = f"{server.url}/mlflow"
    api = f"{base}/ajax-api/2.0/mlflow"
    graphql = {"query": GET_EXPERIMENT, "variables": {"input": {"experimentId": experiment_id}}}
    answer = httpx.post(f"{base}/graphql", json=graphql, headers=alice_headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["mlflowGetExperiment"]["experiment"]["name"] == "models-exp"

    # Another project's user reaches none of it, by REST or GraphQL.
    refused = [
        httpx.get(f"{api}/logged-models/{logged.model_id}", headers=mallory_headers),
        httpx.post(
            f"{api}/logged-models/search",
            json={"experiment_ids": [experiment_id]},
            headers=mallory_headers,
        ),
        httpx.get(
            f"{api}/logged-models/{logged.model_id}/artifacts/directories",
            headers=mallory_headers,
        ),
        httpx.post(f"{base}/graphql", json=graphql, headers=mallory_headers),
    ]
    assert [r.status_code for r in refused] == [404] * 4, [r.text for r in refused]
    mlflow_env(_workload_key(platform, mallory, _project(platform, mallory, "m2")))
    with pytest.raises(MlflowException, match="not found"):
        MlflowClient().create_logged_model(experiment_id, name="x")
    # Queries beyond the ones the gate scopes are refused, with a clear 400.
    sneaky = {"query": '{ test(inputString: "x") { output } }'}
    answer = httpx.post(f"{base}/graphql", json=sneaky, headers=alice_headers)
    assert answer.status_code == 400 and "not available" in answer.json()["message"]
    two = {"query": GET_EXPERIMENT + " query Other { __typename }"}
    assert httpx.post(f"{base}/graphql", json=two, headers=alice_headers).status_code == 400
    # A model version search over GraphQL may not reach other projects' models.
    mlflow_env(_workload_key(platform, alice, project_a))
    MlflowClient().create_registered_model("alice-model")
    versions = {
        "query": "query Q($input: MlflowSearchModelVersionsInput) "
        "{ mlflowSearchModelVersions(input: $input) { modelVersions { name } } }",
        "variables": {"input": {"filter": "name = 'alice-model'"}},
    }
    assert httpx.post(f"{base}/graphql", json=versions, headers=alice_headers).status_code == 200
    client.create_model_version("alice-model", f"{run.info.artifact_uri}/clf", run.info.run_id)
    answer = httpx.post(f"{base}/graphql", json=versions, headers=mallory_headers)
    assert answer.status_code == 403

    # What MLflow 3's UI asks for features Lakeworks does not offer: honest empty answers.
    traces = httpx.post(f"{base}/ajax-api/3.0/mlflow/traces/search", json={}, headers=alice_headers)
    assert traces.status_code == 200 and traces.json() == {"traces": []}
    assistant = httpx.get(f"{base}/ajax-api/3.0/mlflow/assistant/providers", headers=alice_headers)
    assert assistant.status_code == 200 and assistant.json()["providers"] == []
    # The UI's page loads Lakeworks' defaults (the classic view) before MLflow's UI.
    page = httpx.get(f"{base}/", headers=alice_headers)
    assert '<script src="lakeworks-ui-defaults.js"></script>' in page.text
    defaults = httpx.get(f"{base}/lakeworks-ui-defaults.js")
    assert defaults.status_code == 200 and "machine_learning" in defaults.text


def test_repeated_calls_on_a_run_are_checked_from_memory(
    server: LiveServer, make_user: Callable[..., User], mlflow_env: Callable[[str], None]
) -> None:
    # A call on a run this key was allowed moments ago needs no lookup of the run's project
    # (nor a worker thread); the first call and a call on another run still look it up.
    from lakeworks.tracking.embedded import tracking_for

    platform = server.platform
    alice = make_user("alice")
    project_id = _project(platform, alice, "a")
    mlflow_env(_workload_key(platform, alice, project_id))
    client = MlflowClient()
    experiment_id = client.create_experiment("e")
    run_id = client.create_run(experiment_id).info.run_id
    other_id = client.create_run(experiment_id).info.run_id
    scope = tracking_for(platform).scope
    looked_up: list[str] = []
    run_project = scope.run_project

    def counted(run: str) -> str:
        looked_up.append(run)
        return run_project(run)

    scope.run_project = counted  # type: ignore[method-assign]
    try:
        for step in range(5):
            client.log_metric(run_id, "loss", 0.5, step=step)
        client.log_metric(other_id, "loss", 0.5)
    finally:
        del scope.run_project
    assert looked_up == [run_id, other_id]
    assert len(client.get_metric_history(run_id, "loss")) == 5


def test_a_remembered_check_lets_no_removed_member_or_deleted_run_through(
    server: LiveServer, make_user: Callable[..., User], mlflow_env: Callable[[str], None]
) -> None:
    platform = server.platform
    alice, bob = make_user("alice"), make_user("bob")
    as_alice = Principal(user=alice, via="cli")
    project_id = _project(platform, alice, "a")
    projects.set_collaborator(platform, as_alice, project_id, "bob", Role.CONTRIBUTOR.value)
    alice_key = _workload_key(platform, alice, project_id)
    mlflow_env(alice_key)
    owner = MlflowClient()  # clients send the key in MLFLOW_TRACKING_TOKEN at each call
    experiment_id = owner.create_experiment("e")
    run_id = owner.create_run(experiment_id).info.run_id
    doomed_id = owner.create_run(experiment_id).info.run_id

    bob_key = _user_key(platform, bob)
    mlflow_env(bob_key)
    bob_client = MlflowClient()
    for step in range(2):  # the second call's check is the remembered one
        bob_client.log_metric(run_id, "loss", 0.5, step=step)
        bob_client.log_metric(doomed_id, "loss", 0.5, step=step)
        bob_client.set_experiment_tag(experiment_id, "note", str(step))
        assert bob_client.get_run(run_id).info.run_id == run_id

    # A run deleted meanwhile takes no more metrics, however recently it was checked.
    mlflow_env(alice_key)
    owner.delete_run(doomed_id)
    mlflow_env(bob_key)
    with pytest.raises(MlflowException, match="deleted"):
        bob_client.log_metric(doomed_id, "loss", 0.4, step=2)

    projects.remove_collaborator(platform, as_alice, project_id, "bob")
    with pytest.raises(MlflowException, match="not found"):
        bob_client.log_metric(run_id, "loss", 0.3, step=2)
    with pytest.raises(MlflowException, match="not found"):
        bob_client.get_run(run_id)
    with pytest.raises(MlflowException, match="not found"):
        bob_client.set_experiment_tag(experiment_id, "note", "gone")
    mlflow_env(alice_key)
    assert [m.value for m in owner.get_metric_history(run_id, "loss")] == [0.5, 0.5]
    assert owner.get_experiment(experiment_id).tags["note"] == "1"
