# Fraud MLOps pipeline, the model endpoint: the probability that a card transaction is fraud.
# Metrics on: every call records its features (input_data: the drift view compares them with
# the training sample) and its prediction; the simulation job adds the true outcome later.

import json

import xgboost as xgb

import cdsw
import fraud

MODEL = xgb.XGBClassifier()
MODEL.load_model(fraud.MODEL_PATH)
with open(fraud.TRAINING_SAMPLE) as handle:
    TRAINED = {k: v for k, v in json.load(handle).items() if k != "features"}


@cdsw.model_metrics
def predict(args):
    row = fraud.features_of(args)
    probability = float(MODEL.predict_proba([row])[0][1])
    prediction = int(probability >= 0.5)
    cdsw.track_metric("input_data", dict(zip(fraud.FEATURES, row)))
    cdsw.track_metric("probability", probability)
    cdsw.track_metric("prediction", prediction)
    return {
        "probability": probability,
        "prediction": prediction,
        "model_version": TRAINED.get("registered_version"),
        "snapshot_ids": TRAINED.get("snapshot_ids"),
    }
