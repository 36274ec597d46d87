"""The model function: CML calls predict(args) with the request's JSON object."""

import pickle

import pandas as pd

with open("model.pkl", "rb") as f:
    model = pickle.load(f)


def predict(args):
    row = pd.DataFrame([args])
    probability = float(model.predict_proba(row)[0][1])
    return {"churn_probability": round(probability, 4), "churn": probability >= 0.5}
