# Fraud MLOps pipeline, setup: chain the jobs so one run of "New Batch" runs the whole
# pipeline: New Batch -> Retrain XGBoost -> API Redeployment (each starts when its parent
# job succeeds). Done last in the setup, after the first model is deployed, so the setup's
# own first batch and training do not start a redeployment of a model that does not exist yet.

import os

import cmlapi

import fraud

project_id = os.environ["CDSW_PROJECT_ID"]
client = cmlapi.default_client()
jobs = {j.name: j for j in client.list_jobs(project_id).jobs}
for child, parent in (("retrain", "new_batch"), ("redeploy", "retrain")):
    job = jobs[fraud.JOBS[child]]
    client.update_job(cmlapi.Job(parent_id=jobs[fraud.JOBS[parent]].id), project_id, job.id)
    print(f"{fraud.JOBS[child]!r} now runs after {fraud.JOBS[parent]!r}")
