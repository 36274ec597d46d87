# Fraud MLOps pipeline AMP, step 0: install the requirements (xgboost) and make the folders.
#
# xgboost is the one package Lakeworks runtimes lack. pip fetches it from the package index,
# or from the site's mirror or wheelhouse: LAKEWORKS_PIP_INDEX_URL / LAKEWORKS_PIP_FIND_LINKS
# reach this task as PIP_INDEX_URL / PIP_FIND_LINKS. A failing pip does not stop this script
# (IPython semantics): the import check below says what is missing.

!pip3 install --quiet --disable-pip-version-check -r requirements.txt

import importlib.util
import os

needed = {"xgboost": "xgboost-cpu", "pandas": "pandas", "sklearn": "scikit-learn",
          "mlflow": "mlflow", "pyarrow": "pyarrow", "pyiceberg": "pyiceberg"}
missing = [package for module, package in needed.items() if importlib.util.find_spec(module) is None]
if missing:
    raise SystemExit(
        "Missing after pip install: " + ", ".join(missing) + ". Without internet access, point "
        "the site's LAKEWORKS_PIP_INDEX_URL or LAKEWORKS_PIP_FIND_LINKS at a mirror or wheelhouse."
    )
os.makedirs("models", exist_ok=True)
import xgboost

print("Requirements are in place; xgboost", xgboost.__version__)
print("PIP_INDEX_URL:", os.environ.get("PIP_INDEX_URL", "(not set)"))
print("PIP_FIND_LINKS:", os.environ.get("PIP_FIND_LINKS", "(not set)"))
