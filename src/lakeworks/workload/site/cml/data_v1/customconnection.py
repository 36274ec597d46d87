"""``cml.data_v1.customconnection.CustomConnection``: the base class of data connections
(CML compat §3.3), which Lakeworks' own connection types also derive from.

Example::

    from cml.data_v1.customconnection import CustomConnection

    class MyConnection(CustomConnection):
        def get_base_connection(self):
            return make_client(**self.parameters)
"""

from __future__ import annotations

from typing import Any


class CustomConnection:
    """A named connection: ``parameters`` holds its settings (a copy of ``properties``,
    updated by ``update_properties`` and ``override_parameters``)."""

    def __init__(self, properties: dict[str, Any] | None = None) -> None:
        self.properties: dict[str, Any] = dict(properties or {})
        self.parameters: dict[str, Any] = dict(self.properties)

    def update_properties(self, properties: dict[str, Any]) -> None:
        self.properties.update(properties or {})
        self.parameters.update(properties or {})

    def override_parameters(self, parameters: dict[str, Any] | None = None) -> None:
        """Use these settings instead of the defined ones (e.g. another database)."""
        self.parameters.update(parameters or {})

    def get_base_connection(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no base connection")

    def get_cursor(self) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} has no cursor (it is not a SQL connection)"
        )

    def get_pandas_dataframe(self, query: str) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not run SQL queries")

    def print_usage(self) -> None:
        print(f"{type(self).__name__}: no usage notes.")
