"""Shared code of the Customer churn AMP: the features, the model pipeline and its explanations.

The model is a logistic regression over one-hot encoded categories and standardised numbers.
For a linear model the log-odds are a sum of one term per encoded column, so each feature's
share in a prediction is exact: coefficient x (value - training mean), summed over the columns
that one feature became. Positive shares push towards churn, negative ones away from it.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

MODEL_PATH = Path("models/churn_model.pkl")
SAMPLE_PATH = Path("models/sample_customers.csv")

CATEGORICAL = [
    "gender",
    "SeniorCitizen",
    "Partner",
    "Dependents",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
]
NUMERIC = ["tenure", "MonthlyCharges", "TotalCharges"]
FEATURES = CATEGORICAL + NUMERIC
TARGET = "Churn"


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Types as the model wants them: categories as text, numbers as floats (a blank
    TotalCharges, a customer in their first month, is 0), SeniorCitizen as Yes/No."""
    out = frame.copy()
    if "SeniorCitizen" in out:
        out["SeniorCitizen"] = out["SeniorCitizen"].map(
            lambda v: "Yes" if str(v).strip() in ("1", "Yes", "True", "true") else "No"
        )
    for name in NUMERIC:
        if name in out:
            out[name] = pd.to_numeric(out[name], errors="coerce").fillna(0.0).astype(float)
    for name in CATEGORICAL:
        if name in out:
            out[name] = out[name].astype(str).str.strip()
    return out


def pipeline(c: float) -> Pipeline:
    encode = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("num", StandardScaler(), NUMERIC),
        ]
    )
    return Pipeline([("encode", encode), ("clf", LogisticRegression(C=c, max_iter=2000))])


def package(fitted: Pipeline, train: pd.DataFrame) -> dict[str, Any]:
    """What the serving side needs: the pipeline, the mean of every encoded column on the
    training data, which feature each column came from, and each feature's choices."""
    encode = fitted.named_steps["encode"]
    encoded = encode.transform(train[FEATURES])
    encoded = encoded.toarray() if hasattr(encoded, "toarray") else np.asarray(encoded)
    owners = []
    for name in encode.get_feature_names_out():
        kind, column = name.split("__", 1)
        if kind == "num":
            owners.append(column)
        else:
            owners.append(next(f for f in CATEGORICAL if column.startswith(f + "_")))
    choices = {f: sorted(train[f].unique().tolist()) for f in CATEGORICAL}
    return {
        "pipeline": fitted,
        "means": encoded.mean(axis=0).tolist(),
        "owners": owners,
        "choices": choices,
    }


def save(model: dict[str, Any], path: Path = MODEL_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        pickle.dump(model, out)


def load(path: Path = MODEL_PATH) -> dict[str, Any]:
    with path.open("rb") as f:
        return pickle.load(f)


def explain_one(model: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """Churn probability of one customer and each feature's share in its log-odds."""
    missing = [f for f in FEATURES if f not in record]
    if missing:
        raise ValueError(f"missing features: {', '.join(missing)}")
    row = clean(pd.DataFrame([{f: record[f] for f in FEATURES}]))
    fitted = model["pipeline"]
    encoded = fitted.named_steps["encode"].transform(row)
    encoded = encoded.toarray() if hasattr(encoded, "toarray") else np.asarray(encoded)
    clf = fitted.named_steps["clf"]
    terms = clf.coef_[0] * (encoded[0] - np.asarray(model["means"]))
    shares: dict[str, float] = {f: 0.0 for f in FEATURES}
    for owner, term in zip(model["owners"], terms):
        shares[owner] += float(term)
    logit = float(clf.intercept_[0] + clf.coef_[0] @ encoded[0])
    probability = 1.0 / (1.0 + math.exp(-logit))
    data = {f: (float(row.iloc[0][f]) if f in NUMERIC else str(row.iloc[0][f])) for f in FEATURES}
    return {
        "data": data,
        "probability": round(probability, 4),
        "prediction": int(probability >= 0.5),
        "explanation": {f: round(v, 4) for f, v in shares.items()},
    }
