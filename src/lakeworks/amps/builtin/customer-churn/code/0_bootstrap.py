# Customer churn AMP, step 0: install the requirements and prepare the project's folders.
#
# Offline installs: Lakeworks runtimes already hold every package listed in requirements.txt,
# so pip finds them installed and needs no network. A site with a package mirror or a
# wheelhouse sets LAKEWORKS_PIP_INDEX_URL / LAKEWORKS_PIP_FIND_LINKS, which reach this task
# as PIP_INDEX_URL / PIP_FIND_LINKS. A failing pip does not stop this script (IPython
# semantics): the import check below says what is missing.

!pip3 install --quiet --disable-pip-version-check -r requirements.txt

import importlib.util
import os

needed = {"pandas": "pandas", "sklearn": "scikit-learn", "mlflow": "mlflow",
          "pyspark": "pyspark", "flask": "flask", "matplotlib": "matplotlib"}
missing = [package for module, package in needed.items() if importlib.util.find_spec(module) is None]
if missing:
    raise SystemExit(
        "Missing after pip install: " + ", ".join(missing) + ". Without internet access, point "
        "the site's LAKEWORKS_PIP_INDEX_URL or LAKEWORKS_PIP_FIND_LINKS at a mirror or wheelhouse."
    )

for folder in ("models", "reports"):
    os.makedirs(folder, exist_ok=True)
print("Requirements are in place:", ", ".join(needed.values()))
print("PIP_INDEX_URL:", os.environ.get("PIP_INDEX_URL", "(not set)"))
print("PIP_FIND_LINKS:", os.environ.get("PIP_FIND_LINKS", "(not set)"))
