# Fraud MLOps pipeline, job "Retrain XGBoost": read only the snapshots appended since the last
# training (cml.data_v1.incremental_append_scan), train an XGBoost classifier, log an MLflow
# run tagged with the snapshot ids, register a new model version, and save the model and its
# training sample (the drift view's reference) for the next build.

import json
import os

import mlflow
import pandas as pd
import xgboost as xgb
from mlflow.tracking import MlflowClient
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

import cml.data_v1 as cmldata
import fraud

catalog = cmldata.get_connection("iceberg").get_catalog()
table = catalog.load_table(fraud.TABLE)
current = table.current_snapshot().snapshot_id
state = fraud.read_state()
last = state.get("trained_through")
if last is not None and int(last) == current:
    # Nothing new (a manual rerun): train on the range the last training read.
    last = state.get("trained_from")
start = int(last) if last is not None else None

# The snapshot ids in (start, current], oldest first, walking the current snapshot's ancestry.
by_id = {s.snapshot_id: s for s in table.snapshots()}
ids, walk = [], current
while walk is not None and walk != start:
    ids.append(walk)
    walk = by_id[walk].parent_snapshot_id
ids.reverse()

frame = cmldata.incremental_append_scan(table, start, current).to_pandas()
print(f"Read {len(frame)} rows of snapshots {ids} (after {start})")
if frame[fraud.LABEL].nunique() < 2:
    raise SystemExit("The new rows hold a single class; nothing to learn from.")

X, y = frame[fraud.FEATURES], frame[fraud.LABEL]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=7, stratify=y)
params = {"n_estimators": 80, "max_depth": 4, "learning_rate": 0.2, "subsample": 0.9}
model = xgb.XGBClassifier(**params, eval_metric="logloss", n_jobs=1, random_state=7)
model.fit(X_train, y_train)
probability = model.predict_proba(X_test)[:, 1]
auc = float(roc_auc_score(y_test, probability))
accuracy = float(accuracy_score(y_test, probability >= 0.5))
print(f"AUC {auc:.3f}, accuracy {accuracy:.3f}")

mlflow.set_experiment(os.environ.get("FRAUD_EXPERIMENT", "fraud-mlops"))
with mlflow.start_run(run_name=f"retrain-{ids[-1]}") as run:
    mlflow.set_tags(
        {
            "snapshot_ids": ",".join(str(i) for i in ids),
            "snapshot_from": "" if start is None else str(start),
            "snapshot_to": str(current),
            "iceberg_table": fraud.TABLE,
            "pipeline": "fraud-mlops",
        }
    )
    mlflow.log_params(params)
    mlflow.log_metrics({"auc": auc, "accuracy": accuracy, "rows": float(len(frame))})
    mlflow.xgboost.log_model(
        model, "model", registered_model_name=fraud.REGISTERED_MODEL, pip_requirements=["xgboost-cpu"]
    )
    run_id = run.info.run_id

versions = MlflowClient().search_model_versions(f"name = '{fraud.REGISTERED_MODEL}'")
version = max(int(v.version) for v in versions if v.run_id == run_id)
print(f"MLflow run {run_id}, registered {fraud.REGISTERED_MODEL} version {version}")

os.makedirs("models", exist_ok=True)
model.save_model(fraud.MODEL_PATH)
fraud.write_training_sample(
    frame, ids, {"mlflow_run_id": run_id, "registered_version": version, "auc": auc}
)
fraud.write_state(
    {
        "trained_from": start,
        "trained_through": current,
        "snapshot_ids": ids,
        "mlflow_run_id": run_id,
        "registered_model": fraud.REGISTERED_MODEL,
        "registered_version": version,
    }
)
print("TRAINED", json.dumps({"run_id": run_id, "version": version, "snapshots": [str(i) for i in ids]}))
