"""Parse and validate ``.project-metadata.yaml`` (AMP specification 1.0, compat spec §10).

A bad file is refused with ``InvalidInput`` whose message names the line and the key that are
wrong (``.project-metadata.yaml line 12, tasks[2].type: ...``); the same goes into the error's
``details`` as ``{"line": 12, "key": "tasks[2].type"}``. Unknown keys are accepted and reported
as warnings, as CML does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from lakeworks.errors import InvalidInput

log = logging.getLogger(__name__)

FILE_NAME = ".project-metadata.yaml"
MAX_FILE_BYTES = 256 * 1024
SUPPORTED_SPEC = "1.0"
KNOWN_FEATURES = frozenset({"model_metrics"})

# Field kinds: "str" (also numbers, stringified), "num" (number or numeric string), "bool",
# "map", "list". Each task type lists its fields; ``REQUIRED`` the ones it cannot do without.
COMMON_FIELDS = {"type": "str", "name": "str", "short_summary": "str", "long_summary": "str"}
RESOURCES = {"cpu": "num", "memory": "num", "gpu": "num"}
TASK_FIELDS: dict[str, dict[str, str]] = {
    "run_session": {"script": "str", "kernel": "str", **RESOURCES},
    "create_job": {
        "entity_label": "str",
        "script": "str",
        "arguments": "str",
        "environment": "map",
        "timeout": "num",
        "schedule": "str",
        "kernel": "str",
        **RESOURCES,
    },
    "run_job": {"entity_label": "str"},
    "create_model": {
        "entity_label": "str",
        "description": "str",
        "access_key_environment_variable": "str",
        "default_resources": "map",
        "default_replication_policy": "map",
        "disable_authentication": "bool",
    },
    "build_model": {
        "entity_label": "str",
        "comment": "str",
        "target_file_path": "str",
        "target_function_name": "str",
        "examples": "list",
        "build_script_path": "str",
        "kernel": "str",
    },
    "deploy_model": {"entity_label": "str", "replicas": "num", "environment": "map", **RESOURCES},
    "start_application": {
        "subdomain": "str",
        "script": "str",
        "environment_variables": "map",
        "bypass_authentication": "bool",
        "static_subdomain": "bool",
        "kernel": "str",
        **RESOURCES,
    },
    "run_experiment": {"script": "str", "arguments": "str", "kernel": "str", **RESOURCES},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "run_session": ("script",),
    "create_job": ("entity_label", "script"),
    "run_job": ("entity_label",),
    "create_model": ("entity_label",),
    "build_model": ("entity_label", "target_file_path", "target_function_name"),
    "deploy_model": ("entity_label",),
    "start_application": ("subdomain", "script"),
    "run_experiment": ("script",),
}
TOP_LEVEL: dict[str, tuple[str, bool, int]] = {
    # key: (kind, required, max length)
    "name": ("str", True, 200),
    "description": ("str", True, 2048),
    "author": ("str", True, 64),
    "specification_version": ("str", True, 16),
    "prototype_version": ("str", True, 16),
    "date": ("str", False, 32),
    "shared_memory_limit": ("num", False, 0),
    "environment_variables": ("map", False, 0),
    "feature_dependencies": ("list", False, 0),
    "runtimes": ("list", False, 0),
    "tasks": ("list", False, 0),
}
IGNORED_TOP_LEVEL = frozenset({"engine_images", "prereqs"})


@dataclass(frozen=True)
class EnvVarSpec:
    name: str
    default: str
    description: str = ""
    required: bool = False
    prompt_user: bool = True


@dataclass(frozen=True)
class RuntimeSpec:
    editor: str
    kernel: str
    edition: str
    version: str = ""
    addons: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskSpec:
    """One task; ``fields`` holds its validated fields as plain JSON values."""

    position: int
    type: str
    line: int
    fields: dict[str, Any]

    @property
    def title(self) -> str:
        return str(
            self.fields.get("name")
            or self.fields.get("short_summary")
            or f"{self.type} {self.fields.get('entity_label') or self.fields.get('script') or ''}"
        ).strip()


@dataclass(frozen=True)
class AmpSpec:
    name: str
    description: str
    author: str
    specification_version: str
    prototype_version: str
    date: str = ""
    shared_memory_limit_gb: float = 0.0625
    environment_variables: tuple[EnvVarSpec, ...] = ()
    feature_dependencies: tuple[str, ...] = ()
    runtimes: tuple[RuntimeSpec, ...] = ()
    tasks: tuple[TaskSpec, ...] = ()
    warnings: tuple[str, ...] = field(default=())


# Loading with line numbers -------------------------------------------------------------


class _Map(dict[str, Any]):
    """A mapping that remembers where it and each of its keys were written."""

    line = 0
    key_lines: dict[str, int]


class _List(list[Any]):
    line = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    """PyYAML's YAML 1.1 safe loader, keeping line numbers (1-based) for error messages."""


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    result = _Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) or key is None:
            raise _Bad(key_node.start_mark.line + 1, "", "mapping keys must be plain scalars")
        name = str(key)
        result[name] = loader.construct_object(value_node, deep=True)
        result.key_lines[name] = key_node.start_mark.line + 1
    return result


def _construct_list(loader: _Loader, node: yaml.SequenceNode) -> _List:
    result = _List(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_list)


class _Bad(Exception):
    def __init__(self, line: int, key: str, problem: str) -> None:
        super().__init__(problem)
        self.line, self.key, self.problem = line, key, problem


def _refuse(bad: _Bad) -> InvalidInput:
    where = f"{FILE_NAME} line {bad.line}" if bad.line else FILE_NAME
    if bad.key:
        where += f", {bad.key}"
    return InvalidInput(f"{where}: {bad.problem}", details=[{"line": bad.line, "key": bad.key}])


# Validation -------------------------------------------------------------------------------


def parse(text: str | bytes) -> AmpSpec:
    """Parse and validate the file's text; raise ``InvalidInput`` naming the line and key."""
    if len(text) > MAX_FILE_BYTES:
        raise InvalidInput(f"{FILE_NAME} is larger than {MAX_FILE_BYTES // 1024} KiB.")
    try:
        data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except _Bad as bad:
        raise _refuse(bad) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = f"invalid YAML: {exc.problem or exc.context or 'cannot be parsed'}"
        raise _refuse(_Bad(line, "", problem)) from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise _refuse(_Bad(0, "", f"invalid YAML: {exc}")) from exc
    try:
        return _validate(data)
    except _Bad as bad:
        raise _refuse(bad) from None


def _validate(data: Any) -> AmpSpec:
    if not isinstance(data, _Map):
        raise _Bad(1, "", "the file must be a YAML mapping of keys such as name and tasks")
    warnings: list[str] = []
    values: dict[str, Any] = {}
    for key, (kind, required, limit) in TOP_LEVEL.items():
        if key not in data or data[key] is None:
            if required:
                raise _Bad(data.line, key, "this required key is missing")
            continue
        values[key] = _typed(data[key], kind, data.key_lines[key], key)
        if limit and len(values[key]) > limit:
            raise _Bad(data.key_lines[key], key, f"longer than {limit} characters")
    for key in data:
        if key not in TOP_LEVEL:
            note = f"line {data.key_lines[key]}: unknown key {key!r} ignored"
            if key not in IGNORED_TOP_LEVEL:
                log.warning("%s %s", FILE_NAME, note)
            warnings.append(note)
    if values["specification_version"] != SUPPORTED_SPEC:
        raise _Bad(
            data.key_lines["specification_version"],
            "specification_version",
            f"version {values['specification_version']!r} is not supported; use {SUPPORTED_SPEC}",
        )
    env = _env_vars(data.get("environment_variables"), data)
    features = _features(data.get("feature_dependencies"), data)
    runtimes = _runtimes(data.get("runtimes"), data)
    tasks = _tasks(data.get("tasks"), warnings)
    shm = values.get("shared_memory_limit", 0.0625)
    if shm <= 0:
        raise _Bad(data.key_lines["shared_memory_limit"], "shared_memory_limit", "must be > 0")
    return AmpSpec(
        name=values["name"],
        description=values["description"],
        author=values["author"],
        specification_version=values["specification_version"],
        prototype_version=values["prototype_version"],
        date=values.get("date", ""),
        shared_memory_limit_gb=float(shm),
        environment_variables=env,
        feature_dependencies=features,
        runtimes=runtimes,
        tasks=tasks,
        warnings=tuple(warnings),
    )


_KIND_WORDS = {
    "str": "a string",
    "num": "a number",
    "bool": "true or false",
    "map": "a mapping",
    "list": "a list",
}


def _typed(value: Any, kind: str, line: int, key: str) -> Any:
    """``value`` converted to ``kind``, or ``_Bad`` naming what was expected."""
    if kind == "str" and isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    if kind == "str" and isinstance(value, bool):
        return str(value)
    if kind == "num" and not isinstance(value, bool):
        if isinstance(value, int | float):
            return value
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    if kind == "map" and isinstance(value, Mapping):
        return value
    if kind == "list" and isinstance(value, list):
        return value
    shown = type(value).__name__ if not isinstance(value, Mapping | list) else "a collection"
    raise _Bad(line, key, f"must be {_KIND_WORDS[kind]}, not {shown} ({_short(value)})")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _line_of(container: Any, key: str | int, fallback: int) -> int:
    if isinstance(container, _Map) and isinstance(key, str):
        return container.key_lines.get(key, container.line)
    if isinstance(container, _List) and isinstance(key, int) and key < len(container.item_lines):
        return container.item_lines[key]
    return fallback


def _env_vars(raw: Any, top: _Map) -> tuple[EnvVarSpec, ...]:
    if raw is None:
        return ()
    found = []
    for name, entry in raw.items():
        key = f"environment_variables.{name}"
        line = _line_of(raw, name, top.line)
        if not name.isidentifier() or not name.isascii():
            raise _Bad(line, key, "not a valid environment variable name")
        if entry is None:
            entry = _Map()
        if not isinstance(entry, Mapping):
            raise _Bad(line, key, "must be a mapping with default, description, required")
        default = entry.get("default", "")
        if isinstance(default, Mapping | list):
            raise _Bad(_line_of(entry, "default", line), f"{key}.default", "must be a scalar")
        fields = {}
        for sub, kind in (("description", "str"), ("required", "bool"), ("prompt_user", "bool")):
            if entry.get(sub) is not None:
                fields[sub] = _typed(entry[sub], kind, _line_of(entry, sub, line), f"{key}.{sub}")
        found.append(
            EnvVarSpec(
                name=name,
                default="" if default is None else str(default),
                description=fields.get("description", ""),
                required=fields.get("required", False),
                prompt_user=fields.get("prompt_user", True),
            )
        )
    return tuple(found)


def _features(raw: Any, top: _Map) -> tuple[str, ...]:
    if raw is None:
        return ()
    result = []
    for i, item in enumerate(raw):
        line = _line_of(raw, i, top.line)
        name = _typed(item, "str", line, f"feature_dependencies[{i}]")
        if name not in KNOWN_FEATURES:
            raise _Bad(
                line,
                f"feature_dependencies[{i}]",
                f"unknown feature {name!r}; this platform offers {', '.join(KNOWN_FEATURES)}",
            )
        result.append(name)
    return tuple(result)


def _runtimes(raw: Any, top: _Map) -> tuple[RuntimeSpec, ...]:
    if raw is None:
        return ()
    result = []
    for i, item in enumerate(raw):
        key = f"runtimes[{i}]"
        line = _line_of(raw, i, top.line)
        if not isinstance(item, Mapping):
            raise _Bad(line, key, "must be a mapping with editor, kernel and edition")
        got: dict[str, Any] = {}
        for sub in ("editor", "kernel", "edition", "version"):
            if item.get(sub) is not None:
                got[sub] = _typed(item[sub], "str", _line_of(item, sub, line), f"{key}.{sub}")
            elif sub != "version":
                raise _Bad(line, f"{key}.{sub}", "this required key is missing")
        addons = item.get("addons") or []
        addons = _typed(addons, "list", _line_of(item, "addons", line), f"{key}.addons")
        names = tuple(
            _typed(a, "str", _line_of(addons, j, line), f"{key}.addons[{j}]")
            for j, a in enumerate(addons)
        )
        result.append(RuntimeSpec(addons=names, **got))
    return tuple(result)


def _tasks(raw: Any, warnings: list[str]) -> tuple[TaskSpec, ...]:
    if raw is None:
        return ()
    result: list[TaskSpec] = []
    labels: dict[str, set[str]] = {"job": set(), "model": set()}
    for i, item in enumerate(raw):
        key = f"tasks[{i}]"
        line = _line_of(raw, i, raw.line)
        if not isinstance(item, Mapping):
            raise _Bad(line, key, "each task must be a mapping with a type")
        if item.get("type") is None:
            raise _Bad(line, f"{key}.type", "this required key is missing")
        task_type = _typed(item["type"], "str", _line_of(item, "type", line), f"{key}.type")
        if task_type not in TASK_FIELDS:
            raise _Bad(
                _line_of(item, "type", line),
                f"{key}.type",
                f"unknown task type {task_type!r}; use one of {', '.join(TASK_FIELDS)}",
            )
        known = COMMON_FIELDS | TASK_FIELDS[task_type]
        fields: dict[str, Any] = {}
        for name, value in item.items():
            sub_line = _line_of(item, name, line)
            if name not in known:
                warnings.append(f"line {sub_line}: {key}: unknown field {name!r} ignored")
                continue
            if value is None:
                continue
            fields[name] = _plain(_typed(value, known[name], sub_line, f"{key}.{name}"))
        for name in REQUIRED[task_type]:
            if name not in fields or fields[name] == "":
                raise _Bad(line, f"{key}.{name}", f"a {task_type} task needs this key")
        _check_task(task_type, fields, item, line, key, labels)
        result.append(TaskSpec(position=i, type=task_type, line=line, fields=fields))
    return tuple(result)


def _check_task(
    task_type: str,
    fields: dict[str, Any],
    item: Any,
    line: int,
    key: str,
    labels: dict[str, set[str]],
) -> None:
    _check_labels(task_type, fields.get("entity_label", ""), item, line, key, labels)
    _check_values(fields, item, line, key)


# Task types that name a new entity (a label used once), and those that refer to one made by
# an earlier task.
_DEFINES = {"create_job": "job", "create_model": "model"}
_REFERS = {"run_job": "job", "build_model": "model", "deploy_model": "model"}


def _check_labels(
    task_type: str, label: str, item: Any, line: int, key: str, labels: dict[str, set[str]]
) -> None:
    label_line = _line_of(item, "entity_label", line)
    if task_type in _DEFINES:
        kind = _DEFINES[task_type]
        if label in labels[kind]:
            raise _Bad(label_line, f"{key}.entity_label", f"{kind} label {label!r} is used twice")
        labels[kind].add(label)
    elif task_type in _REFERS and label not in labels[_REFERS[task_type]]:
        kind = _REFERS[task_type]
        raise _Bad(
            label_line,
            f"{key}.entity_label",
            f"no earlier create_{kind} task has entity_label {label!r}",
        )


def _check_values(fields: dict[str, Any], item: Any, line: int, key: str) -> None:
    for name in ("cpu", "memory", "gpu", "replicas", "timeout"):
        if name in fields and fields[name] < 0:
            raise _Bad(_line_of(item, name, line), f"{key}.{name}", "must not be negative")
    for name in ("environment", "environment_variables"):
        for var, value in (fields.get(name) or {}).items():
            if isinstance(value, dict | list):
                raise _Bad(
                    _line_of(item, name, line), f"{key}.{name}.{var}", "must be a scalar value"
                )
    for j, example in enumerate(fields.get("examples") or []):
        if not isinstance(example, dict) or "request" not in example:
            raise _Bad(
                _line_of(item, "examples", line),
                f"{key}.examples[{j}]",
                "each example needs a request",
            )


def _plain(value: Any) -> Any:
    """Drop the line-keeping subclasses, so fields serialise as plain JSON."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
