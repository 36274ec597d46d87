"""Imported by Python at start-up in every workload (the workload site is on ``PYTHONPATH``).

``/home/cdsw`` is the project in every mode. Under the sandbox the project is mounted there;
without it (``LAKEWORKS_SANDBOX=none``) the workload runs in the real project folder, named by
``LAKEWORKS_PROJECT_HOME``, and ``/home/cdsw`` on the machine is somebody else's (or nobody's)
folder. The platform's MLflow gives every run an artifact location under
``/home/cdsw/.experiments``, so MLflow's local artifact store is pointed at the project there:
``log_model`` lands where the server shows and deploys it from, whatever the mode.

Nothing happens when the variable is unset or is ``/home/cdsw`` (the sandbox), and MLflow is
patched only once a program imports it.

Example (inside a workload without the sandbox)::

    import mlflow
    mlflow.log_artifact("plot.png")  # written to $LAKEWORKS_PROJECT_HOME/.experiments/...
"""

from __future__ import annotations

import os
import sys

# Only what Python has imported already by now: this runs before every workload's first line,
# and importing importlib.abc and typing (re, enum, pathlib, tempfile...) took 40-100 ms of
# it. (Type checkers take any constant named TYPE_CHECKING for true.)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

CDSW_HOME = "/home/cdsw"
_LOCAL_REPO = "mlflow.store.artifact.local_artifact_repo"


def in_project(path: str, home: str) -> str:
    """``/home/cdsw/x`` → ``<home>/x``; other paths unchanged.

    Example::

        in_project("/home/cdsw/.experiments/1", "/srv/p")  # "/srv/p/.experiments/1"
    """
    if path == CDSW_HOME or path.startswith(CDSW_HOME + "/"):
        return home.rstrip("/") + path[len(CDSW_HOME) :]
    return path


def _patch(module: ModuleType, home: str) -> None:
    repo = module.LocalArtifactRepository
    original = repo.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._artifact_dir = in_project(self._artifact_dir, home)

    repo.__init__ = __init__


class _PatchOnImport:
    """Patches MLflow's local artifact repository right after it is first imported (a meta
    path finder, by its ``find_spec``)."""

    def __init__(self, home: str) -> None:
        self.home = home

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != _LOCAL_REPO:
            return None
        import importlib.abc
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        home = self.home

        class _Loader(importlib.abc.Loader):
            def create_module(self, spec: Any) -> Any:
                return loader.create_module(spec)

            def exec_module(self, module: ModuleType) -> None:
                loader.exec_module(module)
                _patch(module, home)

        spec.loader = _Loader()
        return spec


def _install() -> None:
    home = os.environ.get("LAKEWORKS_PROJECT_HOME", "")
    if not home or home.rstrip("/") == CDSW_HOME:
        return
    if _LOCAL_REPO in sys.modules:
        _patch(sys.modules[_LOCAL_REPO], home)
    else:
        sys.meta_path.insert(0, _PatchOnImport(home))


_install()
