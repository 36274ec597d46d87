"""A model's data drift (services/model_drift.py) called directly on stored prediction
records: PSI and KS per feature computed from exactly the newest ``recent`` records of the
model, the threshold's verdict, too few values, which build's training sample is compared,
and who may look. The API and page views are tested in tests/metrics/test_drift_view.py."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from tests.services.conftest import ROLES, Members

from lakeworks.entities.metrics import PredictionRecord
from lakeworks.entities.models import BuildStatus, DeploymentStatus
from lakeworks.errors import HTTP_STATUS, InvalidInput, NotFound
from lakeworks.metrics import drift
from lakeworks.services import model_builds, model_drift, projects
from lakeworks.services.model_drift import Drift
from lakeworks.services.platform import Platform

REFERENCE = 1000  # training values per feature


def sample(n: int, mean: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, 1.0) for _ in range(n)]


AMOUNT = sample(REFERENCE, 0.0, 1)
HOUR = sample(REFERENCE, 0.0, 2)


@dataclass
class Model:
    platform: Platform
    project_id: str
    model_id: str
    owner_id: int
    members: Members | None = None
    clock: int = 0

    def build(
        self, status: BuildStatus = BuildStatus.BUILT, reference: dict[str, Any] | None = None
    ) -> str:
        """A build of the model (one transaction each: builds are ordered by creation), with
        ``reference`` as its training sample when given."""
        build_id = str(uuid.uuid4())
        with self.platform.store.transaction() as uow:
            uow.models.add_build(
                id=build_id,
                model_id=self.model_id,
                project_id=self.project_id,
                creator_id=self.owner_id,
                file_path="predict.py",
                function_name="predict",
                status=status.value,
                examples=[],
            )
        if reference is not None:
            root = model_builds.snapshot_dir(self.platform, build_id)
            root.mkdir(parents=True, exist_ok=True)
            (root / model_drift.REFERENCE_FILE).write_text(json.dumps(reference))
        return build_id

    def deploy(self, build_id: str, status: DeploymentStatus = DeploymentStatus.DEPLOYED) -> str:
        deployment_id = str(uuid.uuid4())
        with self.platform.store.transaction() as uow:
            uow.models.add_deployment(
                id=deployment_id,
                model_id=self.model_id,
                build_id=build_id,
                project_id=self.project_id,
                deployer_id=self.owner_id,
                status=status.value,
                environment={},
            )
        return deployment_id

    def predict(self, deployment_id: str, build_id: str, *inputs: Any) -> None:
        """One stored prediction record per input (``input_data`` as given), each newer than
        the last."""
        records = []
        for given in inputs:
            self.clock += 10
            at = 1_700_000_000_000 + self.clock
            records.append(
                PredictionRecord(
                    deployment_id,
                    build_id,
                    self.model_id,
                    str(uuid.uuid4()),
                    at,
                    at + 5,
                    {"input_data": given, "prediction": 0},
                )
            )
        with self.platform.store.transaction() as uow:
            uow.model_metrics.add_predictions(records)

    def drift(self, role: str = "owner", **kw: Any) -> Drift:
        assert self.members is not None
        return model_drift.model_drift(
            self.platform, self.members[role], self.project_id, self.model_id, **kw
        )


@pytest.fixture
def model(fake_platform: Platform, members: Members) -> Model:
    model_id = str(uuid.uuid4())
    owner = members["owner"].user
    with fake_platform.store.transaction() as uow:
        uow.models.add(
            id=model_id,
            project_id=members.project_id,
            name="churn",
            description="",
            auth_enabled=True,
            access_key_hash=uuid.uuid4().hex,
            access_key_sealed="",
            creator_id=owner.id,
            registered_model_id="",
        )
    return Model(fake_platform, members.project_id, model_id, owner.id, members)


def inputs(amounts: list[float], hours: list[float]) -> list[dict[str, float]]:
    return [{"amount": a, "hour": h} for a, h in zip(amounts, hours, strict=True)]


@pytest.fixture
def served(model: Model) -> tuple[str, str]:
    """A deployed build trained on AMOUNT and HOUR: (build id, deployment id)."""
    build_id = model.build(
        reference={"features": {"amount": AMOUNT, "hour": HOUR}, "snapshot_ids": ["s1"]}
    )
    return build_id, model.deploy(build_id)


def test_psi_and_ks_per_feature_come_from_the_stored_predictions(
    model: Model, served: tuple[str, str]
) -> None:
    build_id, deployment_id = served
    amounts, hours = sample(300, 1.5, 3), sample(300, 0.0, 4)
    model.predict(deployment_id, build_id, *inputs(amounts, hours))

    result = model.drift()

    assert (result.build_id, result.recent_records, result.problem) == (build_id, 300, "")
    assert result.snapshot_ids == ["s1"] and result.skipped == {}
    by_name = {f.name: f for f in result.features}
    assert list(by_name) == ["amount", "hour"]
    # The numbers are those of the stored values (newest first, as read) against the sample.
    assert by_name["amount"] == drift.compare("amount", AMOUNT, amounts[::-1])
    assert by_name["hour"] == drift.compare("hour", HOUR, hours[::-1])
    assert by_name["amount"].psi > 0.5 and by_name["hour"].psi < 0.1
    assert result.drifted == ["amount"]
    shown = result.as_json()
    assert shown["drifted"] == ["amount"] and shown["build_id"] == build_id
    assert shown["features"][0]["psi"] == round(by_name["amount"].psi, 6)
    assert shown["features"][0]["current_count"] == 300
    assert shown["features"][0]["reference_count"] == REFERENCE


def test_the_threshold_decides_the_verdict(model: Model, served: tuple[str, str]) -> None:
    build_id, deployment_id = served
    model.predict(deployment_id, build_id, *inputs(sample(200, 0.6, 5), sample(200, 0.0, 6)))
    amount_psi = next(f.psi for f in model.drift().features if f.name == "amount")

    assert model.drift(threshold=amount_psi * 0.99).drifted == ["amount"]
    assert model.drift(threshold=amount_psi).drifted == []  # drift is a PSI above it
    assert model.drift(threshold=10).drifted == []
    assert model.drift(threshold=amount_psi).threshold == amount_psi


def test_only_the_newest_recent_predictions_count(model: Model, served: tuple[str, str]) -> None:
    build_id, deployment_id = served
    model.predict(deployment_id, build_id, *inputs(sample(200, 3.0, 7), sample(200, 0.0, 8)))
    model.predict(deployment_id, build_id, *inputs(sample(100, 0.0, 9), sample(100, 0.0, 10)))

    newest = model.drift(recent=100)
    assert newest.recent_records == 100 and newest.recent_limit == 100
    assert newest.drifted == []
    assert all(f.current_count == 100 for f in newest.features)

    everything = model.drift(recent=1000)
    assert everything.recent_records == 300 and everything.drifted == ["amount"]


def test_records_of_every_deployment_count_and_other_models_do_not(
    model: Model, served: tuple[str, str], fake_platform: Platform
) -> None:
    build_id, deployment_id = served
    old = model.deploy(build_id, DeploymentStatus.STOPPED)
    first, second = sample(15, 0.0, 11), sample(15, 0.0, 13)
    model.predict(old, build_id, *inputs(first, sample(15, 0.0, 12)))
    model.predict(deployment_id, build_id, *inputs(second, sample(15, 0.0, 14)))
    other = Model(fake_platform, model.project_id, str(uuid.uuid4()), model.owner_id)
    other.predict(deployment_id, build_id, *inputs(sample(50, 5.0, 15), sample(50, 5.0, 16)))

    result = model.drift()

    assert result.recent_records == 30
    assert [f.current_count for f in result.features] == [30, 30]
    amount = result.features[0]
    assert amount == drift.compare("amount", AMOUNT, (first + second)[::-1])


def test_unusable_values_are_left_out_and_too_few_are_skipped(
    model: Model, served: tuple[str, str]
) -> None:
    build_id, deployment_id = served
    good = [{"amount": v, "flag": True} for v in sample(25, 0.0, 17)]
    hours_only_19 = [{"hour": v} for v in sample(19, 0.0, 18)]
    junk: list[Any] = [
        {"amount": "12.5"},  # text is not a number
        {"amount": None, "hour": [1, 2]},
        {"amount": 10**400},  # too large for a float
        "not a mapping",
        [1, 2, 3],
    ]
    model.predict(deployment_id, build_id, *good, *hours_only_19, *junk)

    result = model.drift()

    assert result.recent_records == 25 + 19 + len(junk)
    assert [(f.name, f.current_count) for f in result.features] == [("amount", 25)]
    # A feature the training sample does not have (flag) is not compared, nor skipped.
    assert result.skipped == {"hour": "19 recent values (at least 20 needed)"}
    assert result.problem == ""


def test_no_feature_with_enough_values_says_how_to_record_them(
    model: Model, served: tuple[str, str]
) -> None:
    build_id, deployment_id = served
    model.predict(deployment_id, build_id, *({"amount": v} for v in sample(19, 0.0, 19)))

    result = model.drift()

    assert result.features == [] and result.drifted == []
    assert result.skipped == {
        "amount": "19 recent values (at least 20 needed)",
        "hour": "0 recent values (at least 20 needed)",
    }
    assert result.problem.startswith("No feature has 20 recent values yet")
    assert 'cdsw.track_metric("input_data", args)' in result.problem


def test_the_deployed_build_is_compared_not_a_newer_undeployed_one(
    model: Model, served: tuple[str, str]
) -> None:
    build_id, deployment_id = served
    model.build(reference={"features": {"amount": [0.0] * 50}, "snapshot_ids": ["newer"]})
    model.predict(deployment_id, build_id, *inputs(sample(40, 0.0, 20), sample(40, 0.0, 21)))

    result = model.drift()

    assert result.build_id == build_id and result.snapshot_ids == ["s1"]


def test_without_a_live_deployment_the_newest_built_build_is_compared(model: Model) -> None:
    first = model.build(reference={"features": {"amount": AMOUNT}, "snapshot_ids": ["one"]})
    model.deploy(first, DeploymentStatus.STOPPED)
    second = model.build(reference={"features": {"amount": AMOUNT}, "snapshot_ids": ["two"]})
    model.build(BuildStatus.FAILED, reference={"features": {"amount": [1.0]}})
    model.build(BuildStatus.BUILDING)

    result = model.drift()

    assert result.build_id == second and result.snapshot_ids == ["two"]


def test_a_model_without_a_build_has_a_problem_line(model: Model) -> None:
    model.build(BuildStatus.FAILED)
    result = model.drift()
    assert result.build_id is None and result.problem == "The model has no build yet."
    assert result.as_json()["build_id"] == "" and result.features == []


def test_the_training_sample_keeps_only_numeric_values(model: Model) -> None:
    long_id = "x" * 100
    build_id = model.build(
        reference={
            "features": {
                "amount": [1, 2.5, True, "3", None, 4],
                "label": ["yes", "no"],
                "nested": {"a": 1},
                "hour": list(range(30)),
            },
            "snapshot_ids": [long_id, 42],
        }
    )
    reference, ids = model_drift.load_reference(model_builds.snapshot_dir(model.platform, build_id))
    assert reference == {"amount": [1.0, 2.5, 1.0, 4.0], "hour": [float(h) for h in range(30)]}
    assert ids == ["x" * 40, "42"]

    only_text = model.build(reference={"features": {"label": ["yes", "no"]}})
    result = model.drift()
    assert result.build_id == only_text
    assert result.problem == (
        f"Build {only_text[:8]}: its {model_drift.REFERENCE_FILE} holds no numeric feature values."
    )


@pytest.mark.parametrize("role", ROLES[:-1])
def test_every_member_sees_the_drift(model: Model, served: tuple[str, str], role: str) -> None:
    assert model.drift(role).build_id == served[0]


def test_an_outsider_and_another_projects_model_get_not_found(
    model: Model, served: tuple[str, str], fake_platform: Platform, members: Members
) -> None:
    with pytest.raises(NotFound) as hidden:
        model.drift("outsider")
    assert HTTP_STATUS[hidden.value.code] == 404

    elsewhere = projects.create(
        fake_platform, members["owner"], name="Elsewhere", source=projects.parse_source("", "")
    )
    with pytest.raises(NotFound) as missing:
        model_drift.model_drift(fake_platform, members["owner"], elsewhere.id, model.model_id)
    assert missing.value.message == f"Model {model.model_id!r} not found in this project."


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"threshold": 0}, "threshold must be a PSI above 0"),
        ({"threshold": 10.5}, "threshold must be a PSI above 0"),
        ({"recent": 0}, f"recent must be between 1 and {model_drift.MAX_RECENT}"),
        ({"recent": model_drift.MAX_RECENT + 1}, "recent must be between 1"),
    ],
)
def test_bad_options_are_refused_before_reading_anything(
    model: Model, kw: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        model.drift("outsider", **kw)  # checked before the project is
    assert words in refused.value.message and HTTP_STATUS[refused.value.code] == 400


def test_the_default_window_is_the_newest_thousand_records(
    model: Model, served: tuple[str, str]
) -> None:
    build_id, deployment_id = served
    model.predict(deployment_id, build_id, *inputs(sample(1200, 0.0, 22), sample(1200, 0.0, 23)))
    result = model.drift()
    assert result.recent_records == model_drift.DEFAULT_RECENT == result.recent_limit
    assert [f.current_count for f in result.features] == [1000, 1000]
