"""Python runtimes: which interpreters the host has (``catalog``) and the shared environments
built on them with uv (``builder``).

- ``Catalog``: the API v2 runtime rows, CML identifier mapping, search filters.
- ``ensure_runtime(version, runtimes_dir)``: the built runtime for a Python version.
- ``workload_env(runtime_dir, project_home)``: the variables a workload needs to use it.
- ``RuntimeManager`` (``manager``): an installation's runtimes, their states and background
  builds (``Platform.runtimes``).
"""

from lakeworks.runtimes.builder import (
    RuntimeBuildError,
    ensure_runtime,
    runtime_python,
    workload_env,
)
from lakeworks.runtimes.catalog import Catalog, Interpreter, Runtime

__all__ = [
    "Catalog",
    "Interpreter",
    "Runtime",
    "RuntimeBuildError",
    "ensure_runtime",
    "runtime_python",
    "workload_env",
]
