# Customer churn AMP, MLOps simulation: call the deployed model the way production traffic
# would, then (as a business learns later which customers really left) report the true outcome
# of every prediction with cdsw.track_delayed_metrics.
#
# To show what monitoring is for, the simulated world drifts: the later a prediction, the more
# often its customer does the opposite of what the data says, so accuracy falls over time.

import os
import random
import time

import pandas as pd

import cdsw
import churn

key = os.environ.get("CHURN_MODEL_ACCESS_KEY", "")
if not key:
    raise SystemExit("CHURN_MODEL_ACCESS_KEY is empty: the create_model task sets it.")
calls = int(os.environ.get("SIMULATION_CALLS", "240"))

customers = pd.read_csv(churn.SAMPLE_PATH, dtype={"customerID": str})
chosen = customers.sample(n=calls, replace=True, random_state=7).reset_index(drop=True)
random.seed(7)

made = []
started = time.time()
for i, row in chosen.iterrows():
    record = {f: (row[f].item() if hasattr(row[f], "item") else row[f]) for f in churn.FEATURES}
    answer = cdsw.call_model(key, record)
    if not answer.get("success"):
        raise SystemExit(f"The model refused call {i}: {answer}")
    response = answer["response"]
    made.append((response["uuid"], response["prediction"]["prediction"], row["Churn"] == "Yes"))
    if (i + 1) % 50 == 0:
        print(f"{i + 1} predictions made")
print(f"{len(made)} predictions in {time.time() - started:.1f} s")

# Later: the true outcomes arrive. Drift grows from 0 to 45% of customers over the run.
for i, (uuid, predicted, churned) in enumerate(made):
    drift = 0.45 * i / max(1, len(made) - 1)
    actual = (not churned) if random.random() < drift else churned
    cdsw.track_delayed_metrics({"actual": int(actual)}, uuid)
print("Reported", len(made), "true outcomes with cdsw.track_delayed_metrics")
