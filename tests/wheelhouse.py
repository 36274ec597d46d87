"""The wheelhouse workload tests install from, so they need no package index at test time.

``python -m tests.wheelhouse`` (``scripts/test`` runs it before pytest, with the network, as it
builds the runtimes) downloads the wheels pinned in ``tests/wheelhouse.txt`` with the default
runtime's own pip, so they match its Python and this machine's platform, into
``~/.cache/lakeworks-test-wheels`` (``LAKEWORKS_TEST_WHEELHOUSE``). A test that installs them
serves that directory as ``LAKEWORKS_PIP_FIND_LINKS`` with no index (``PIP_NO_INDEX``), and
skips when it is not filled.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.scheduler.conftest import RUNTIME_CACHE

from lakeworks.runtimes.manager import RuntimeManager

WHEELHOUSE = Path(
    os.environ.get("LAKEWORKS_TEST_WHEELHOUSE", Path.home() / ".cache" / "lakeworks-test-wheels")
)
PINS = Path(__file__).with_name("wheelhouse.txt")


def pinned() -> dict[str, str]:
    """Project name (as wheel file names spell it) → pinned version."""
    pins = {}
    for line in PINS.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, version = requirement.split("==")
            pins[re.sub(r"[-_.]+", "_", name.strip()).lower()] = version.strip()
    return pins


def missing() -> list[str]:
    """The pinned wheels the wheelhouse lacks (``name==version``)."""
    return [
        f"{name}=={version}"
        for name, version in pinned().items()
        if not any(WHEELHOUSE.glob(f"{name}-{version}-*.whl"))
    ]


def fill() -> None:
    """Download what the wheelhouse lacks, for the default runtime's Python and platform."""
    if not missing():
        return
    manager = RuntimeManager(RUNTIME_CACHE, default_python=None)
    python = manager.path_for(manager.default_python()) / "bin" / "python"
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            str(python), "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--only-binary=:all:", "--dest", str(WHEELHOUSE), "-r", str(PINS),
        ],
        check=True,
    )  # fmt: skip
    if missing():
        sys.exit(f"the wheelhouse {WHEELHOUSE} still lacks {', '.join(missing())}")


if __name__ == "__main__":
    fill()
