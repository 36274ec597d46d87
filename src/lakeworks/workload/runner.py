"""How a workload runs a project script: the argv for ``.py``, ``.ipynb`` and ``.sh`` files.

The runners themselves live in ``site/`` (see ``site_dir``), a directory put on the workload's
``PYTHONPATH``: the workload's interpreter is a runtime's, which does not have ``lakeworks``
installed, so that code imports only the standard library, IPython and nbclient.
"""

from __future__ import annotations

import shlex
from pathlib import Path, PurePosixPath

from lakeworks.errors import InvalidInput

_SITE_DIR = Path(__file__).resolve().parent / "site"


# The kinds of project file a job, an application or an AMP task runs.
SCRIPT_SUFFIXES = (".py", ".ipynb", ".sh")


class UnsupportedScript(InvalidInput):
    """The script's kind cannot run as a workload (only ``.py``, ``.ipynb`` and ``.sh`` can)."""


def site_dir() -> Path:
    """The directory to put first on a workload's ``PYTHONPATH``.

    It holds the runners (``lakeworks_runner``) and the in-workload libraries ``cdsw`` and
    ``cml``. Example::

        env["PYTHONPATH"] = f"{site_dir()}:/home/cdsw"
    """
    return _SITE_DIR


def command_for(script: str, arguments: str | None, python: str) -> list[str]:
    """The argv that runs ``script`` (project-relative) with ``arguments`` (one string).

    ``python`` is the runtime's interpreter. The workload starts in the project root with
    ``site_dir()`` on ``PYTHONPATH``. ``arguments`` is split like a POSIX shell would (for
    ``.py`` and ``.ipynb`` by the runner, in the workload; ``None`` or ``""`` give no argument,
    ``"None"`` one argument ``None``). Raises ``UnsupportedScript`` for other kinds of file.

    Example::

        >>> command_for("jobs/fit.py", "--rows 500", "/rt/bin/python")
        ['/rt/bin/python', '-m', 'lakeworks_runner', 'jobs/fit.py', '--rows 500']
    """
    if not script or not script.strip():
        raise UnsupportedScript("The script path is empty.")
    suffix = PurePosixPath(script).suffix.lower()
    args = arguments or ""
    if suffix == ".py":
        return [python, "-m", "lakeworks_runner", script, args]
    if suffix == ".ipynb":
        return [python, "-m", "lakeworks_runner.notebook", script, args]
    if suffix == ".sh":
        try:
            tokens = shlex.split(args)
        except ValueError as error:
            raise UnsupportedScript(f"Cannot split the arguments {args!r}: {error}.") from error
        return ["bash", script, *tokens]
    kind = f"'{suffix}' files" if suffix else "Files without an extension"
    raise UnsupportedScript(
        f"{kind} cannot run as a workload ({script}): use a Python script (.py), "
        "a notebook (.ipynb) or a shell script (.sh)."
    )
