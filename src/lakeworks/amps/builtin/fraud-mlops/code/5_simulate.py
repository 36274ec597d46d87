# Fraud MLOps pipeline, job "Simulate production traffic": call the model endpoint with fresh
# transactions the way card payments would, then (as chargebacks arrive days later) report
# each one's true outcome with cdsw.track_delayed_metrics.
#
# Live traffic comes from a world two batches ahead of the newest table snapshot: it has
# drifted from what the model was trained on, which the drift view on the model's monitoring
# page shows.

import os
import time

import cdsw
import cml.data_v1 as cmldata
import fraud

key = os.environ.get("FRAUD_MODEL_ACCESS_KEY", "")
if not key:
    raise SystemExit("FRAUD_MODEL_ACCESS_KEY is empty: the create_model task sets it.")
calls = int(os.environ.get("SIMULATION_CALLS", "200"))
seed = int(os.environ.get("FRAUD_SEED", "42"))

table = cmldata.get_connection("iceberg").get_catalog().load_table(fraud.TABLE)
ahead = len(table.snapshots()) + 2
live = fraud.generate(ahead, calls, seed + 1000)

made = []
started = time.time()
for i, row in live.iterrows():
    record = {f: row[f].item() for f in fraud.FEATURES}
    answer = cdsw.call_model(key, record)
    if not answer.get("success"):
        raise SystemExit(f"The model refused call {i}: {answer}")
    made.append((answer["response"]["uuid"], int(row[fraud.LABEL])))
print(f"{len(made)} predictions (world of batch {ahead}) in {time.time() - started:.1f} s")

for uuid, actual in made:
    cdsw.track_delayed_metrics({"actual": actual}, uuid)
print("Reported", len(made), "true outcomes with cdsw.track_delayed_metrics")
