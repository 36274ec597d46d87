"""A PEP 517 build backend for the ``cmlapi`` sdist, standard library only.

Shipped inside the sdist (as ``_cmlapi_build.py``) so that ``pip install`` of
``/api/v2/python.tar.gz`` needs no setuptools and no package index: the sdist's
``pyproject.toml`` names this module as its in-tree backend with no build requirements.
This file runs under the installing interpreter (Python 3.9+), not under Lakeworks.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile

NAME = "cmlapi"
TAG = "py3-none-any"
_EPOCH = (2020, 1, 1, 0, 0, 0)  # zip cannot hold times before 1980; fixed for repeatability


def _version() -> str:
    with open("PKG-INFO", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    raise RuntimeError("PKG-INFO has no Version")


def _metadata() -> str:
    with open("PKG-INFO", encoding="utf-8") as handle:
        return handle.read()


def _dist_info(version: str) -> str:
    return f"{NAME}-{version}.dist-info"


def _package_files() -> list[str]:
    found = []
    for root, dirs, files in os.walk(NAME):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found += [os.path.join(root, f) for f in sorted(files) if f.endswith(".py")]
    return found


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings: dict | None = None) -> list[str]:
    return []


def get_requires_for_build_sdist(config_settings: dict | None = None) -> list[str]:
    return []


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: dict | None = None
) -> str:
    info = os.path.join(metadata_directory, _dist_info(_version()))
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, "METADATA"), "w", encoding="utf-8") as handle:
        handle.write(_metadata())
    with open(os.path.join(info, "WHEEL"), "w", encoding="utf-8") as handle:
        handle.write(_wheel_file())
    return os.path.basename(info)


def _wheel_file() -> str:
    return f"Wheel-Version: 1.0\nGenerator: {NAME}-build\nRoot-Is-Purelib: true\nTag: {TAG}\n"


def build_wheel(
    wheel_directory: str,
    config_settings: dict | None = None,
    metadata_directory: str | None = None,
) -> str:
    version = _version()
    info = _dist_info(version)
    filename = f"{NAME}-{version}-{TAG}.whl"
    entries = []
    for path in _package_files():
        with open(path, "rb") as handle:
            entries.append((path.replace(os.sep, "/"), handle.read()))
    entries.append((f"{info}/METADATA", _metadata().encode("utf-8")))
    entries.append((f"{info}/WHEEL", _wheel_file().encode("utf-8")))
    record = [_record_line(name, data) for name, data in entries] + [f"{info}/RECORD,,"]
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode("utf-8")))
    with zipfile.ZipFile(
        os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED
    ) as wheel:
        for name, data in entries:
            member = zipfile.ZipInfo(name, date_time=_EPOCH)
            member.external_attr = 0o644 << 16
            member.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(member, data)
    return filename
