# Customer churn AMP, step 3: tune a logistic regression on the Hive table with MLflow.
#
# Each regularisation strength is one MLflow run of the "Churn model tuning" experiment (params,
# accuracy, ROC AUC). The best run's model is logged and registered as "customer-churn", and
# saved under models/ for the model endpoint and the application, with a sample of held-out
# customers the application and the MLOps simulation use.

import os

import mlflow
import mlflow.sklearn
import pandas as pd
import sklearn
from pyspark.sql import SparkSession
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

import churn

database = os.environ.get("HIVE_DATABASE", "default")
table = os.environ.get("HIVE_TABLE", "churn_customers")

spark = SparkSession.builder.appName("churn-train").getOrCreate()
frame = spark.table(f"{database}.{table}").toPandas()
spark.stop()

frame = churn.clean(frame)
labels = (frame[churn.TARGET] == "Yes").astype(int)
train, test, y_train, y_test = train_test_split(
    frame, labels, test_size=0.25, random_state=42, stratify=labels
)

mlflow.set_experiment("Churn model tuning")
best = None
for c in (0.01, 0.1, 1.0, 10.0):
    with mlflow.start_run(run_name=f"logreg C={c}") as run:
        fitted = churn.pipeline(c).fit(train[churn.FEATURES], y_train)
        scores = fitted.predict_proba(test[churn.FEATURES])[:, 1]
        accuracy = accuracy_score(y_test, (scores >= 0.5).astype(int))
        auc = roc_auc_score(y_test, scores)
        mlflow.log_params({"C": c, "model": "logistic_regression", "table": f"{database}.{table}"})
        mlflow.log_metrics({"test_accuracy": accuracy, "test_roc_auc": auc})
        print(f"C={c}: accuracy {accuracy:.3f}, ROC AUC {auc:.3f} (run {run.info.run_id})")
        if best is None or auc > best[0]:
            best = (auc, c, fitted, run.info.run_id)

auc, c, fitted, run_id = best
print(f"Best: C={c} with ROC AUC {auc:.3f}")
with mlflow.start_run(run_id=run_id):
    mlflow.set_tag("best", "true")
    mlflow.sklearn.log_model(
        fitted,
        artifact_path="model",
        registered_model_name="customer-churn",
        input_example=test[churn.FEATURES].head(2),
        # Named, not inferred: inference loads the model again in a subprocess (slow).
        pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"pandas=={pd.__version__}"],
    )

churn.save(churn.package(fitted, train))
sample = test.assign(Churn=y_test.map({1: "Yes", 0: "No"})).head(300)
sample[["customerID", *churn.FEATURES, "Churn"]].to_csv(churn.SAMPLE_PATH, index=False)
print("Saved", churn.MODEL_PATH, "and", len(sample), "held-out customers in", churn.SAMPLE_PATH)
