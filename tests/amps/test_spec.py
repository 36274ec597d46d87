"""The .project-metadata.yaml parser: the spec's example loads, each kind of bad file is refused
with the line and key that are wrong."""

from __future__ import annotations

import textwrap

import pytest

from lakeworks.amps import spec
from lakeworks.errors import InvalidInput

# Written from compat spec §10 (the example of §10.5, abridged), with its YAML 1.1 quirks:
# float versions, a flow mapping with a trailing comma, arguments: None, trailing whitespace.
GOOD = textwrap.dedent(
    """\
    name: Iris Starter
    description: Prepares data, trains, serves.
    author: Lakeworks tests
    specification_version: 1.0
    prototype_version: 2.0
    date: "2025-01-15"
    engine_images: [whatever]
    environment_variables:
      DATA_DIR:
        default: data/iris
        description: Where the data goes.
        required: true
      VERBOSE:
        default: False
        prompt_user: false
    feature_dependencies:
      - model_metrics
    runtimes:
      - editor: Workbench
        kernel: Python 3.10
        edition: Standard
        addons: ["Spark 3.3.2 - CDE 1.20.0 - HOTFIX-1"]
    tasks:
      - type: run_session
        script: setup/install.py
        kernel: python3
        memory: "2"
      - type: create_job
        name: Prepare data
        entity_label: prep
        script: jobs/prepare.py
        arguments: None
        environment:
          TASK_TYPE: CREATE/RUN_JOB
      - type: run_job
        entity_label: prep
        colour: blue
      - type: create_model
        name: Iris Scorer
        entity_label: iris
        access_key_environment_variable: IRIS_KEY
        default_resources: {cpu: 1, memory: 2}
      - type: build_model
        entity_label: iris
        target_file_path: serving/score.py
        target_function_name: score
        examples:
          - request: {sepal_length: 5.1, petal_width: 0.2,}
            response: ""
      - type: deploy_model
        entity_label: iris
        cpu: 1
      - type: start_application
        subdomain: iris
        script: app/serve.py   \n
        environment_variables:
          TASK_TYPE: START_APPLICATION
    """
)


def test_the_spec_example_loads() -> None:
    amp = spec.parse(GOOD)
    assert amp.name == "Iris Starter"
    assert amp.specification_version == "1.0" and amp.prototype_version == "2.0"
    assert [v.name for v in amp.environment_variables] == ["DATA_DIR", "VERBOSE"]
    verbose = amp.environment_variables[1]
    assert verbose.default == "False" and not verbose.prompt_user and not verbose.required
    assert amp.environment_variables[0].required
    assert amp.runtimes[0].kernel == "Python 3.10" and amp.runtimes[0].addons
    assert [t.type for t in amp.tasks] == [
        "run_session",
        "create_job",
        "run_job",
        "create_model",
        "build_model",
        "deploy_model",
        "start_application",
    ]
    assert amp.tasks[1].fields["arguments"] == "None"
    assert amp.tasks[0].fields["memory"] == 2.0
    assert amp.tasks[4].fields["examples"][0]["request"] == {
        "sepal_length": 5.1,
        "petal_width": 0.2,
    }
    assert amp.tasks[1].title == "Prepare data"
    assert amp.tasks[1].line == 28
    # Unknown keys are accepted and reported.
    assert any("engine_images" in w for w in amp.warnings)
    assert any("'colour'" in w for w in amp.warnings)


def _refusal(text: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        spec.parse(text)
    return caught.value


def _swap(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


def test_missing_key_names_it() -> None:
    error = _refusal(_swap("author: Lakeworks tests\n", ""))
    assert "author" in error.message and "missing" in error.message
    assert error.details == [{"line": 1, "key": "author"}]


def test_missing_task_key_names_task_and_line() -> None:
    error = _refusal(_swap("    target_function_name: score\n", ""))
    assert "line 43, tasks[4].target_function_name" in error.message, error.message


def test_wrong_type_names_line_and_key() -> None:
    error = _refusal(_swap("    cpu: 1\n", "    cpu: [1, 2]\n"))
    assert "line 52, tasks[5].cpu: must be a number" in error.message, error.message
    error = _refusal(_swap("    required: true\n", "    required: maybe\n"))
    assert "line 12, environment_variables.DATA_DIR.required" in error.message, error.message
    error = _refusal(_swap("tasks:\n", "tasks: {a: 1}\nx:\n"))
    assert "tasks: must be a list" in error.message, error.message


def test_unknown_task_type() -> None:
    error = _refusal(_swap("  - type: run_job\n", "  - type: run_jobs\n"))
    assert "line 35, tasks[2].type: unknown task type 'run_jobs'" in error.message, error.message


def test_task_referring_to_a_job_that_does_not_exist() -> None:
    error = _refusal(
        _swap("    entity_label: prep\n    colour", "    entity_label: nope\n    colour")
    )
    assert "line 36, tasks[2].entity_label" in error.message, error.message
    assert "no earlier create_job task has entity_label 'nope'" in error.message


def test_labels_point_backwards_only() -> None:
    # Deploying a model that is created only later is as wrong as one never created.
    lines = GOOD.split("  - type: create_model")
    tail = "  - type: create_model" + lines[1]
    model, rest = tail.split("  - type: build_model")
    text = lines[0] + "  - type: build_model" + rest + model
    error = _refusal(text)
    assert "no earlier create_model task has entity_label 'iris'" in error.message


def test_invalid_yaml_gives_the_line() -> None:
    error = _refusal(_swap('date: "2025-01-15"\n', "date: [unclosed\n"))
    assert error.message.startswith(".project-metadata.yaml line ")
    assert "invalid YAML" in error.message
    assert error.details[0]["line"] >= 6
    assert "invalid YAML" in _refusal("name: [\n").message
    assert "must be a YAML mapping" in _refusal("- just\n- a list\n").message


def test_unsupported_versions_and_features() -> None:
    error = _refusal(_swap("specification_version: 1.0", "specification_version: 2.0"))
    assert "line 4, specification_version" in error.message
    error = _refusal(_swap("  - model_metrics\n", "  - model_metrics\n  - quantum\n"))
    assert "line 18, feature_dependencies[1]: unknown feature 'quantum'" in error.message


def test_duplicate_job_label_refused() -> None:
    text = GOOD + "  - type: create_job\n    entity_label: prep\n    script: x.py\n"
    assert "job label 'prep' is used twice" in _refusal(text).message


def test_no_tasks_is_a_valid_amp() -> None:
    head = GOOD.split("tasks:")[0]
    assert spec.parse(head).tasks == ()
