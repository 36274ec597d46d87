"""Data drift of a deployed model: its training sample against the requests it gets now.

**The training side** is the file ``training_sample.json`` at the root of the build that
serves (the newest deployed deployment's build; else the newest built build). The training
job writes it next to the model, so the build's snapshot carries it and each build keeps the
sample its model was trained on::

    {"features": {"amount": [12.5, 80.1, ...], "hour": [...]},   # numeric values per feature
     "snapshot_ids": ["8812...", ...], "rows": 12000}              # optional: what it read

**The serving side** is the ``input_data`` metric of the model's newest prediction records
(any deployment: the traffic is the model's, whichever build answered it), which a predict
function with ``@cdsw.model_metrics`` records with ``cdsw.track_metric("input_data", args)``.

The file is written by a workload, so it is read with the safe-path helper, bounded, and any
shape problem becomes a ``problem`` line in the answer, never an error of the server. READ on
the model's project is enough to see drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakeworks import safe_paths
from lakeworks.entities.models import BuildStatus, DeploymentStatus, ModelBuild
from lakeworks.errors import InvalidInput, LakeworksError, NotFound
from lakeworks.metrics import drift
from lakeworks.metrics.queries import as_number
from lakeworks.services import model_builds
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.model_metrics import StoredPrediction
from lakeworks.store.uow import UnitOfWork

REFERENCE_FILE = "training_sample.json"
FEATURE_METRIC = "input_data"
MAX_REFERENCE_BYTES = 16 * 1024 * 1024
MAX_FEATURES = 100
MAX_VALUES = 50_000  # per feature, in the training sample
DEFAULT_RECENT = 1_000
MAX_RECENT = 20_000
MIN_VALUES = 20  # fewer recent values than this: too few to judge a feature


@dataclass
class Drift:
    """What the drift view shows for one model."""

    model_id: str
    build_id: str | None
    threshold: float
    recent_limit: int
    recent_records: int = 0
    snapshot_ids: list[str] = field(default_factory=list)
    features: list[drift.FeatureDrift] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # feature -> why it is not compared
    problem: str = ""  # why nothing could be compared

    @property
    def drifted(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def as_json(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "build_id": self.build_id or "",
            "threshold": self.threshold,
            "recent_limit": self.recent_limit,
            "recent_records": self.recent_records,
            "snapshot_ids": self.snapshot_ids,
            "drifted": self.drifted,
            "features": [
                {
                    "name": f.name,
                    "psi": round(f.psi, 6),
                    "ks": round(f.ks, 6),
                    "ks_pvalue": f.ks_pvalue,
                    "reference_count": f.reference_count,
                    "current_count": f.current_count,
                    "drifted": f.drifted,
                }
                for f in self.features
            ],
            "skipped": self.skipped,
            "problem": self.problem,
        }


def check_options(threshold: float, recent: int) -> None:
    if not 0 < threshold <= 10:
        raise InvalidInput("threshold must be a PSI above 0 and at most 10 (0.2 is usual).")
    if not 1 <= recent <= MAX_RECENT:
        raise InvalidInput(f"recent must be between 1 and {MAX_RECENT} predictions.")


def _serving_build(uow: UnitOfWork, model_id: str) -> ModelBuild | None:
    for deployment in reversed(uow.models.deployments_of(model_id)):
        if deployment.status is DeploymentStatus.DEPLOYED:
            return uow.models.get_build(deployment.build_id)
    built = [b for b in uow.models.builds_of(model_id) if b.status is BuildStatus.BUILT]
    return built[-1] if built else None


def model_drift(
    platform: Platform,
    principal: Principal,
    project_id: str,
    model_id: str,
    *,
    threshold: float = drift.DEFAULT_THRESHOLD,
    recent: int = DEFAULT_RECENT,
) -> Drift:
    """PSI and KS per numeric feature of the training sample, against the newest ``recent``
    predictions' ``input_data``."""
    check_options(threshold, recent)
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        model = uow.models.get(model_id)
        if model is None or model.project_id != project_id:
            raise NotFound(f"Model {model_id!r} not found in this project.")
        build = _serving_build(uow, model_id)
        records = uow.model_metrics.read(model_id=model_id, limit=recent, newest_first=True)
    result = Drift(model_id, build.id if build else None, threshold, recent)
    if build is None:
        result.problem = "The model has no build yet."
        return result
    try:
        reference, result.snapshot_ids = load_reference(
            model_builds.snapshot_dir(platform, build.id)
        )
    except LakeworksError as exc:
        result.problem = f"Build {build.id[:8]}: {exc.message}"
        return result
    current = recent_features(records)
    result.recent_records = len(records)
    _compare_all(result, reference, current)
    return result


def _compare_all(
    result: Drift, reference: dict[str, list[float]], current: dict[str, list[float]]
) -> None:
    for name in sorted(reference):
        values = current.get(name, [])
        if len(values) < MIN_VALUES:
            result.skipped[name] = f"{len(values)} recent values (at least {MIN_VALUES} needed)"
            continue
        result.features.append(
            drift.compare(name, reference[name], values, threshold=result.threshold)
        )
    if not result.features and not result.problem:
        result.problem = (
            f"No feature has {MIN_VALUES} recent values yet: the predict function records "
            f'them with cdsw.track_metric("{FEATURE_METRIC}", args).'
        )


def load_reference(root: Path) -> tuple[dict[str, list[float]], list[str]]:
    """The training sample of a build snapshot: numeric values per feature, snapshot ids.
    ``InvalidInput`` (or ``NotFound``) says what is wrong with the file."""
    try:
        data = safe_paths.read_bytes(root, REFERENCE_FILE, max_bytes=MAX_REFERENCE_BYTES)
    except FileNotFoundError as exc:
        raise NotFound(
            f"it has no {REFERENCE_FILE} (the training sample the drift view compares with)."
        ) from exc
    except OSError as exc:
        raise InvalidInput(f"its {REFERENCE_FILE} cannot be read: {exc.strerror}.") from exc
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError) as exc:  # a workload's file: nesting bombs too
        raise InvalidInput(f"its {REFERENCE_FILE} is not JSON: {exc}.") from exc
    features = parsed.get("features") if isinstance(parsed, dict) else None
    if not isinstance(features, dict) or not features:
        raise InvalidInput(f'its {REFERENCE_FILE} has no "features" object of value lists.')
    reference: dict[str, list[float]] = {}
    for name, values in list(features.items())[:MAX_FEATURES]:
        if not isinstance(values, list):
            continue
        numbers = [n for n in map(_number, values[:MAX_VALUES]) if n is not None]
        if numbers:
            reference[str(name)[:200]] = numbers
    if not reference:
        raise InvalidInput(f"its {REFERENCE_FILE} holds no numeric feature values.")
    snapshots = parsed.get("snapshot_ids")
    ids = [str(s)[:40] for s in snapshots[:1000]] if isinstance(snapshots, list) else []
    return reference, ids


def recent_features(records: list[StoredPrediction]) -> dict[str, list[float]]:
    """Numeric values per feature from the records' ``input_data`` metric."""
    current: dict[str, list[float]] = {}
    for record in records:
        try:
            metrics = json.loads(record.metrics_json or "{}")
        except (ValueError, RecursionError):
            continue
        features = metrics.get(FEATURE_METRIC) if isinstance(metrics, dict) else None
        if not isinstance(features, dict):
            continue
        for name, value in features.items():
            number = _number(value)
            if number is not None:
                current.setdefault(name, []).append(number)
    return current


def _number(value: Any) -> float | None:
    try:
        return as_number(value)
    except OverflowError:  # an integer too large for a float
        return None
