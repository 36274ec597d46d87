# Fraud MLOps pipeline, job "API Redeployment": build the project as it is now (the model and
# training sample "Retrain XGBoost" just saved) and deploy the build through cmlapi. The model
# endpoint keeps its access key; the old deployment serves until the new one is up, then
# stops, so callers see no failed request during the switch.

import os
import time

import cmlapi

import fraud

project_id = os.environ["CDSW_PROJECT_ID"]
client = cmlapi.default_client()
timeout = float(os.environ.get("REDEPLOY_TIMEOUT_SECONDS", "900"))

model = next(
    (m for m in client.list_models(project_id).models if m.name == fraud.MODEL_NAME), None
)
if model is None:
    raise SystemExit(f"No model named {fraud.MODEL_NAME!r} in this project; run the AMP setup.")
builds = sorted(client.list_model_builds(project_id, model.id).model_builds, key=lambda b: b.created_at)
runtime = builds[-1].runtime_identifier if builds else ""
state = fraud.read_state()
comment = f"{fraud.REGISTERED_MODEL} v{state.get('registered_version')} (snapshots {state.get('snapshot_ids')})"

build = client.create_model_build(
    cmlapi.CreateModelBuildRequest(
        file_path="code/3_model.py",
        function_name="predict",
        runtime_identifier=runtime,
        comment=comment[:200],
    ),
    project_id,
    model.id,
)
print("Build", build.id, "started:", comment)
deadline = time.monotonic() + timeout
while True:
    build = client.get_model_build(project_id, model.id, build.id)
    if build.status == "built":
        break
    if build.status in ("build failed", "stopped") or time.monotonic() > deadline:
        raise SystemExit(f"Build {build.id} ended {build.status}; see its log on the model page.")
    time.sleep(2)
print("Build", build.id, "built")

deployment = client.create_model_deployment(
    cmlapi.CreateModelDeploymentRequest(cpu=1, memory=2, replicas=1), project_id, model.id, build.id
)
print("Deployment", deployment.id, "started; the previous one serves until it is up")
while True:
    deployment = client.get_model_deployment(project_id, model.id, build.id, deployment.id)
    if deployment.status == "deployed":
        break
    if deployment.status in ("failed", "stopped") or time.monotonic() > deadline:
        raise SystemExit(f"Deployment {deployment.id} is {deployment.status}.")
    time.sleep(2)
print("REDEPLOYED", build.id, deployment.id)
