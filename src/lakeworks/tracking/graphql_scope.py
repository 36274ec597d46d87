"""What an MLflow GraphQL request touches, so the gate can scope it like a REST call.

MLflow 3's UI loads experiments, runs, metric histories and run searches through
``POST /graphql``. MLflow's schema is small: each root field maps to one REST handler and
takes one ``input`` object. ``touched`` parses the request (with graphql-core, which MLflow's
GraphQL server uses) and names the objects of every root field; anything it does not
understand (another root field, a fragment at the root, several operations, batching, a
missing ``input``) is refused, so a request cannot reach an object the gate did not check.
Nested fields only lead to the root object's own experiment and model versions, which are in
its project.

Example::

    touched({"query": "query Q($id: String) { mlflowGetExperiment(input: {experimentId: $id})"
             " { experiment { name } } }", "variables": {"id": "3"}})
    # [Touch(kind="experiment", ids=["3"], filter="")]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lakeworks.errors import InvalidInput

# Root field -> (kind, the input keys naming its objects).
ROOT_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mlflowGetExperiment": ("experiment", ("experimentId",)),
    "mlflowGetRun": ("run", ("runId", "runUuid")),
    "mlflowListArtifacts": ("run", ("runId", "runUuid")),
    "mlflowGetMetricHistoryBulkInterval": ("run", ("runIds",)),
    "mlflowSearchRuns": ("experiment", ("experimentIds",)),
    "mlflowSearchDatasets": ("experiment", ("experimentIds",)),
    "mlflowSearchModelVersions": ("model_versions", ()),
}


@dataclass
class Touch:
    """The objects one root field reads: experiments or runs by id, or model versions by
    search filter (``kind="model_versions"``)."""

    kind: str
    ids: list[str] = field(default_factory=list)
    filter: str = ""


def touched(body: Any) -> list[Touch]:
    """The objects a GraphQL request body (MLflow's UI's JSON) reads; ``InvalidInput`` if it
    is anything else."""
    from graphql import GraphQLError, OperationDefinitionNode, parse

    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise InvalidInput("A GraphQL request is a JSON object with a query.")
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        raise InvalidInput("GraphQL variables must be a JSON object.")
    try:
        document = parse(body["query"])
    except GraphQLError as exc:
        raise InvalidInput(f"The GraphQL query does not parse: {exc.message}") from exc
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        raise InvalidInput("Send one GraphQL operation per request.")
    operation = operations[0]
    values = _with_defaults(operation, variables)
    return [_touch(selection, values) for selection in operation.selection_set.selections]


def _with_defaults(operation: Any, variables: dict[str, Any]) -> dict[str, Any]:
    from graphql import value_from_ast_untyped

    values = dict(variables)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
    return values


def _touch(selection: Any, values: dict[str, Any]) -> Touch:
    from graphql import FieldNode, value_from_ast_untyped

    if not isinstance(selection, FieldNode):
        raise InvalidInput("GraphQL fragments are not accepted at the root of a query.")
    name = selection.name.value
    if name == "__typename":
        return Touch(kind="none")
    if name not in ROOT_FIELDS:
        raise InvalidInput(f"GraphQL field {name!r} is not available in Lakeworks.")
    kind, keys = ROOT_FIELDS[name]
    given = {arg.name.value: arg.value for arg in selection.arguments or ()}
    if set(given) != {"input"}:
        raise InvalidInput(f"GraphQL field {name!r} takes one argument, input.")
    payload = value_from_ast_untyped(given["input"], values)
    if not isinstance(payload, dict):
        raise InvalidInput(f"The input of GraphQL field {name!r} must be an object.")
    if kind == "model_versions":
        return Touch(kind=kind, filter=str(payload.get("filter") or ""))
    ids: list[str] = []
    for key in keys:
        value = payload.get(key)
        ids += [str(v) for v in value] if isinstance(value, list) else [str(value or "")]
    ids = [i for i in ids if i]
    if not ids:
        raise InvalidInput(f"GraphQL field {name!r} names no {kind} ({', '.join(keys)}).")
    return Touch(kind=kind, ids=ids)
