# Fraud MLOps pipeline, job "Drift check": read the model's drift (the PSI of each feature,
# the training sample against recent requests: the same figures as the drift view of the
# model's monitoring page) and, when a feature passes the threshold, start "New Batch": fresh
# labelled data is appended, "Retrain XGBoost" trains on it and "API Redeployment" serves it.

import os

import cmlapi
import requests

import fraud

project_id = os.environ["CDSW_PROJECT_ID"]
threshold = float(os.environ.get("DRIFT_THRESHOLD", "0.2"))
base = os.environ["CDSW_API_URL"].replace("/api/v1", "")
headers = {"Authorization": "Bearer " + os.environ["CDSW_APIV2_KEY"]}
client = cmlapi.default_client()

model = next(m for m in client.list_models(project_id).models if m.name == fraud.MODEL_NAME)
answer = requests.get(
    f"{base}/api/v2/projects/{project_id}/models/{model.id}/drift",
    params={"threshold": threshold},
    headers=headers,
    timeout=60,
)
answer.raise_for_status()
drift = answer.json()
if drift["problem"]:
    # Nothing to judge yet (no traffic, or no training sample): not a failure of the check.
    print("No drift figures yet:", drift["problem"])
for feature in drift["features"]:
    print(f"{feature['name']:15s} PSI {feature['psi']:.3f}  KS {feature['ks']:.3f}"
          f"{'  DRIFTED' if feature['drifted'] else ''}")

if drift["drifted"]:
    jobs = {j.name: j for j in client.list_jobs(project_id).jobs}
    run = client.create_job_run(cmlapi.CreateJobRunRequest(), project_id, jobs[fraud.JOBS["new_batch"]].id)
    print(f"Drift past {threshold} in {', '.join(drift['drifted'])}: started New Batch (run {run.id})")
    print("RETRAIN_TRIGGERED", run.id)
else:
    print(f"No feature past {threshold}: nothing to do")
