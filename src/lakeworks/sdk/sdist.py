"""The ``cmlapi`` sdist served at ``GET /api/v2/python.tar.gz``, built from the package files.

The same files give the same bytes (sorted members, fixed times and owners, no gzip time), so
the archive can be cached and compared. It installs with plain ``pip install <url>``: its
in-tree build backend (``build_backend.py``) needs neither setuptools nor a package index.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from pathlib import Path

from lakeworks.sdk import package_dir

_MTIME = 1577836800  # 2020-01-01: fixed, and after 1980 for the wheels built from it
_BACKEND = Path(__file__).with_name("build_backend.py")

PYPROJECT = """\
[build-system]
requires = []
build-backend = "_cmlapi_build"
backend-path = ["."]

[project]
name = "cmlapi"
version = "{version}"
description = "Python client of the Lakeworks (CML-compatible) API v2"
requires-python = ">=3.9"
"""

PKG_INFO = """\
Metadata-Version: 2.1
Name: cmlapi
Version: {version}
Summary: Python client of the Lakeworks (CML-compatible) API v2
Requires-Python: >=3.9
License: Apache-2.0
"""


def version() -> str:
    """The ``__version__`` the package declares."""
    text = (package_dir() / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    assert found, "cmlapi/__init__.py declares no __version__"
    return found.group(1)


def filename() -> str:
    return f"cmlapi-{version()}.tar.gz"


def build() -> bytes:
    """The sdist as bytes (``cmlapi-<version>/`` with the package, its metadata and backend).

    Example::

        Path("cmlapi.tar.gz").write_bytes(build())
    """
    release = version()
    root = f"cmlapi-{release}"
    members: list[tuple[str, bytes]] = [
        ("PKG-INFO", PKG_INFO.format(version=release).encode()),
        ("pyproject.toml", PYPROJECT.format(version=release).encode()),
        ("_cmlapi_build.py", _BACKEND.read_bytes()),
    ]
    package = package_dir()
    for source in sorted(package.rglob("*.py")):
        if "__pycache__" in source.parts:
            continue
        members.append((f"cmlapi/{source.relative_to(package).as_posix()}", source.read_bytes()))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(data)
            info.mtime = _MTIME
            info.mode = 0o644
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0, filename="") as compressed:
        compressed.write(raw.getvalue())
    return packed.getvalue()
