"""Shared code of the Fraud MLOps pipeline AMP: the synthetic transaction generator, the
feature list, and where the jobs keep what they made.

The generator is seeded: batch ``k`` of a seed is the same rows every time. The world drifts
from batch to batch (amounts grow, purchases happen further from home, more of them at
night), so the model's monitoring page shows drift after a few batches.
"""

import json
import os

import numpy as np
import pandas as pd

TABLE = os.environ.get("FRAUD_TABLE", "default.fraud_transactions")
FEATURES = ["amount", "hour", "distance_km", "merchant_risk", "txn_last_24h", "card_age_days"]
LABEL = "is_fraud"
MODEL_PATH = "models/fraud_model.json"
# The training sample the drift view compares recent requests with: at the project root, so
# every model build's snapshot carries the sample of the model it serves.
TRAINING_SAMPLE = "training_sample.json"
STATE_PATH = "models/pipeline_state.json"
SAMPLE_PER_FEATURE = 4000
REGISTERED_MODEL = os.environ.get("FRAUD_REGISTERED_MODEL", "fraud-xgboost")
MODEL_NAME = "Fraud detector"  # the model endpoint the setup creates
JOBS = {
    "new_batch": "New Batch",
    "retrain": "Retrain XGBoost",
    "redeploy": "API Redeployment",
    "simulate": "Simulate production traffic",
    "drift": "Drift check",
}


def generate(batch, rows, seed=42):
    """``rows`` transactions of batch number ``batch`` (1, 2, ...), with their fraud label."""
    rng = np.random.default_rng([seed, batch])
    shift = batch - 1
    amount = np.round(rng.lognormal(mean=3.6 + 0.3 * shift, sigma=0.9, size=rows), 2)
    night_share = min(0.6, 0.15 + 0.05 * shift)
    night = rng.random(rows) < night_share
    hour = np.where(night, rng.integers(0, 6, rows), rng.integers(6, 24, rows))
    distance = np.round(rng.exponential(scale=15.0 * (1 + 0.35 * shift), size=rows), 2)
    merchant_risk = np.round(rng.beta(2, 8, size=rows), 4)
    velocity = rng.poisson(lam=3.0, size=rows)
    card_age = rng.integers(1, 3650, rows)
    score = (
        -4.2
        + 1.3 * (np.log1p(amount) - 4.0)
        + 1.6 * (hour < 6)
        + 0.035 * np.minimum(distance, 150)
        + 7.0 * merchant_risk
        + 0.3 * velocity
        - 0.0012 * card_age
    )
    probability = 1 / (1 + np.exp(-score))
    label = (rng.random(rows) < probability).astype("int64")
    return pd.DataFrame(
        {
            "batch": np.full(rows, batch, dtype="int64"),
            "amount": amount.astype("float64"),
            "hour": hour.astype("int64"),
            "distance_km": distance.astype("float64"),
            "merchant_risk": merchant_risk.astype("float64"),
            "txn_last_24h": velocity.astype("int64"),
            "card_age_days": card_age.astype("int64"),
            LABEL: label,
        }
    )


def features_of(record):
    """The model's input row from a request (a dict), in FEATURES order, as floats."""
    missing = [f for f in FEATURES if f not in record]
    if missing:
        raise ValueError("missing features: " + ", ".join(missing))
    return [float(record[f]) for f in FEATURES]


def read_state():
    if not os.path.exists(STATE_PATH):
        return {}
    with open(STATE_PATH) as handle:
        return json.load(handle)


def write_state(state):
    os.makedirs(os.path.dirname(STATE_PATH), exist_ok=True)
    with open(STATE_PATH, "w") as handle:
        json.dump(state, handle, indent=2)


def write_training_sample(frame, snapshot_ids, extra):
    """The drift view's reference: up to SAMPLE_PER_FEATURE values per feature."""
    sample = frame.sample(n=min(len(frame), SAMPLE_PER_FEATURE), random_state=0)
    data = {
        "features": {f: [float(v) for v in sample[f]] for f in FEATURES},
        "snapshot_ids": [str(s) for s in snapshot_ids],
        "rows": int(len(frame)),
    }
    data.update(extra)
    with open(TRAINING_SAMPLE, "w") as handle:
        json.dump(data, handle)
