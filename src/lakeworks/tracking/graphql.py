"""What an MLflow GraphQL request reads, so the gate can scope it to projects.

MLflow 3's UI reads experiments and runs through ``POST /graphql`` (``MlflowGetExperimentQuery``
on every experiment page). A request passes when it is one query (no mutation) whose root
fields are among ``ROOTS``, each naming the objects it reads in its ``input`` argument (a
variable or a literal); ``objects`` returns those ``(kind, id)`` pairs, which the gate
authorizes like the REST endpoints. Everything reachable below a root (a run's experiment,
its inputs) belongs to the same project. Other root fields (``mlflowSearchModelVersions``
takes a free filter string) are refused.

Example::

    objects({"query": "query Q($input: MlflowGetExperimentInput!) "
             "{ mlflowGetExperiment(input: $input) { experiment { name } } }",
             "variables": {"input": {"experimentId": "1"}}})
    # [("experiment", "1")]
"""

from __future__ import annotations

from typing import Any

from lakeworks.errors import InvalidInput

# Root field -> (input key, kind of object it names: one id or a list of ids).
ROOTS: dict[str, tuple[str, str]] = {
    "mlflowGetExperiment": ("experimentId", "experiment"),
    "mlflowGetRun": ("runId", "run"),
    "mlflowListArtifacts": ("runId", "run"),
    "mlflowSearchRuns": ("experimentIds", "experiments"),
    "mlflowGetMetricHistoryBulkInterval": ("runIds", "runs"),
}
MAX_QUERY_BYTES = 64 * 1024


def objects(body: Any) -> list[tuple[str, str]]:
    """``(kind, id)`` of every object the request reads (kind ``experiment`` or ``run``);
    ``InvalidInput`` for a request the gate does not pass on."""
    from graphql import (
        FieldNode,
        GraphQLError,
        OperationDefinitionNode,
        OperationType,
        VariableNode,
        parse,
    )
    from graphql.utilities import value_from_ast_untyped

    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise InvalidInput("A GraphQL request needs a query.")
    query = body["query"]
    if len(query.encode()) > MAX_QUERY_BYTES:
        raise InvalidInput("The GraphQL query is too long.")
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        raise InvalidInput("GraphQL variables must be an object.")
    try:
        document = parse(query)
    except GraphQLError as exc:
        raise InvalidInput(f"The GraphQL query does not parse: {exc.message}") from exc
    operations = document.definitions
    if len(operations) != 1 or not isinstance(operations[0], OperationDefinitionNode):
        raise InvalidInput("Lakeworks passes one GraphQL query at a time, without fragments.")
    operation = operations[0]
    if operation.operation is not OperationType.QUERY:
        raise InvalidInput("Only GraphQL queries are available in Lakeworks.")
    found: list[tuple[str, str]] = []
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode):
            raise InvalidInput("Lakeworks passes GraphQL root fields only (no fragments).")
        name = selection.name.value
        if name == "__typename":
            continue
        if name not in ROOTS:
            raise InvalidInput(f"The GraphQL field {name!r} is not available in Lakeworks.")
        key, kind = ROOTS[name]
        arguments = {argument.name.value: argument.value for argument in selection.arguments}
        node = arguments.get("input")
        if node is None:
            raise InvalidInput(f"The GraphQL field {name!r} needs its input.")
        if isinstance(node, VariableNode):
            value = variables.get(node.name.value)
        else:
            value = value_from_ast_untyped(node, variables)
        if not isinstance(value, dict):
            raise InvalidInput(f"The input of the GraphQL field {name!r} must be an object.")
        named = value.get(key)
        ids = named if isinstance(named, list) else [named]
        ids = [str(item) for item in ids if item not in (None, "")]
        if not ids:
            raise InvalidInput(f"The GraphQL field {name!r} must name its {key}.")
        single = "experiment" if kind.startswith("experiment") else "run"
        found += [(single, item) for item in ids]
    return found
