"""Embedded MLflow: tracking server and UI, scoped to projects, and the registry bridge.

- ``backend``: where MLflow's tables live and their migrations (``lakeworks db upgrade``);
- ``embedded``: the platform's MLflow stores, and MLflow's request handlers bound to them;
- ``scope``: which project an experiment, run or registered model belongs to;
- ``access``: the permission rule (read: viewer; write: contributor);
- ``gate``: the ASGI app in front of MLflow's Flask app (auth, scoping, artifacts);
- ``paths``: artifact paths as workloads and as the server see them;
- ``registry``: registry version ids and where a version's files are.
"""

import os

# MLflow 3 sends usage data to its vendor (the server's and the UI's) unless told not to. A
# self-hosted platform does not; this module is imported before any of ours imports MLflow.
# A site may still set MLFLOW_DISABLE_TELEMETRY=false.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# Where the embedded MLflow (tracking REST API and UI) is mounted on the server.
MOUNT_PATH = "/mlflow"
