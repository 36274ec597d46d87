# Customer churn AMP, model accuracy report: read the model's metrics back (cdsw.read_metrics),
# join each prediction with its true outcome, and plot accuracy over time. Each window's
# accuracy also goes back to the metrics store as an aggregate metric, so the model's
# Monitoring tab shows it.

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

import cdsw
import cmlapi

WINDOW = 30

client = cmlapi.default_client()
project_id = os.environ["CDSW_PROJECT_ID"]
found = client.list_models(project_id, search_filter=json.dumps({"name": "Customer churn model"}))
if not found.models:
    raise SystemExit("No model named 'Customer churn model' in this project.")
model = found.models[0]

records = cdsw.read_metrics(model_crn=model.crn)["metrics"]
frame = pd.json_normalize(records)
if "metrics.actual" not in frame:
    raise SystemExit("No prediction has a true outcome yet: run the MLOps simulation job first.")
frame = frame.dropna(subset=["metrics.actual"]).sort_values("startTimeStampMs")
frame["correct"] = frame["metrics.prediction"].astype(int) == frame["metrics.actual"].astype(int)
frame["window"] = range(len(frame))
frame["window"] = frame["window"] // WINDOW

windows = frame.groupby("window").agg(
    start=("startTimeStampMs", "min"),
    end=("endTimeStampMs", "max"),
    accuracy=("correct", "mean"),
    predictions=("correct", "size"),
)
print(f"{len(frame)} predictions with a true outcome, in windows of {WINDOW}:")
print(windows[["predictions", "accuracy"]].round(3).to_string())

deployment = frame["modelDeploymentCrn"].iloc[-1]
for _, w in windows.iterrows():
    cdsw.track_aggregate_metrics(
        {"accuracy": round(float(w["accuracy"]), 4)},
        int(w["start"]),
        int(w["end"]),
        model_deployment_crn=deployment,
    )

os.makedirs("reports", exist_ok=True)
times = pd.to_datetime(windows["end"], unit="ms")
plt.figure(figsize=(8, 4))
plt.plot(times, windows["accuracy"], marker="o")
plt.ylim(0, 1)
plt.ylabel("accuracy")
plt.title("Customer churn model: accuracy over time")
plt.tight_layout()
plt.savefig("reports/accuracy_over_time.png")
cdsw.track_file("reports/accuracy_over_time.png")
first, last = windows["accuracy"].iloc[0], windows["accuracy"].iloc[-1]
print(f"Accuracy went from {first:.2f} to {last:.2f}; plot in reports/accuracy_over_time.png")
