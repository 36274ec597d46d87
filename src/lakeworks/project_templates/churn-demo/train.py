"""Fit a churn classifier and save it to model.pkl."""

import pickle

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC = ["tenure", "MonthlyCharges", "TotalCharges"]
CATEGORICAL = ["Contract", "InternetService", "PaymentMethod", "PaperlessBilling"]

df = pd.read_csv("data/telco-customer-churn.csv")
df["TotalCharges"] = pd.to_numeric(df["TotalCharges"], errors="coerce").fillna(0)
X, y = df[NUMERIC + CATEGORICAL], df["Churn"].eq("Yes")
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=7)

model = Pipeline(
    [
        (
            "features",
            ColumnTransformer(
                [
                    ("num", StandardScaler(), NUMERIC),
                    ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
                ]
            ),
        ),
        ("clf", LogisticRegression(max_iter=1000)),
    ]
)
model.fit(X_train, y_train)
print(f"test accuracy: {model.score(X_test, y_test):.3f}")

with open("model.pkl", "wb") as f:
    pickle.dump(model, f)
