"""``cmlapi``, the API v2 Python client: where it lives and how it ships.

The package itself is ``workload/site/cmlapi`` (standard library only, Python 3.9+), so
that every workload imports it from the site directory already on its ``PYTHONPATH``,
with no runtime rebuild. From here it is:

- served as a pip-installable sdist at ``GET /api/v2/python.tar.gz`` (``sdist.build()``);
- imported by the ``lakeworks`` CLI's remote commands (``load()``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from lakeworks.workload import site_dir


def package_dir() -> Path:
    """The directory of the ``cmlapi`` package."""
    return site_dir() / "cmlapi"


def load() -> ModuleType:
    """Import ``cmlapi`` under its own name (the server's environment does not install it).

    Example::

        cmlapi = load()
        api = cmlapi.default_client("http://localhost:8000", key)
    """
    loaded = sys.modules.get("cmlapi")
    if loaded is not None:
        return loaded
    init = package_dir() / "__init__.py"
    spec = importlib.util.spec_from_file_location(
        "cmlapi", init, submodule_search_locations=[str(package_dir())]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cmlapi"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["cmlapi"]
        raise
    return module
