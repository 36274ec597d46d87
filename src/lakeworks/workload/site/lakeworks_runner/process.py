"""Process set-up shared by the script and notebook runners (CML compat §1.3, §1.4)."""

from __future__ import annotations

import os
import site
import sys


def line_buffered() -> None:
    """Flush stdout/stderr at every line, so that logs stream while the workload runs."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)


def split_arguments(arguments: str | None) -> list[str]:
    """CML's one-string arguments, split POSIX-shell style.

    Empty or missing gives no argument; the string ``"None"`` is one argument ``"None"``.

    >>> split_arguments('--rows 500 "a b"')
    ['--rows', '500', 'a b']
    """
    if not arguments:
        return []
    import shlex  # only here: most runs have no arguments, and it imports re

    return shlex.split(arguments)


def project_sys_path(project_root: str) -> None:
    """``sys.path[0] == ''`` (follows ``os.chdir``) and the project root on ``sys.path``."""
    # ``python -m`` put the working directory first; CML has '' there.
    if sys.path and sys.path[0] in ("", project_root, os.getcwd()):
        del sys.path[0]
    sys.path.insert(0, "")
    if project_root not in sys.path:
        sys.path.insert(1, project_root)


def user_site_on_path() -> None:
    """Make packages that ``pip install`` puts in the project importable in this same run.

    Lakeworks workloads install into the user site (``PYTHONUSERBASE`` in the project). Python
    leaves that directory off ``sys.path`` when it does not exist yet, as in a new project, so a
    script doing ``!pip install x`` then ``import x`` would fail. Create it and put it where
    ``site`` would have: before the runtime's own packages, so a project's upgrade wins.
    """
    if not site.ENABLE_USER_SITE or not os.environ.get("PYTHONUSERBASE"):
        return
    user_site = site.getusersitepackages()
    if user_site in sys.path:
        return
    try:
        os.makedirs(user_site, exist_ok=True)
    except OSError:
        return
    runtime = os.path.realpath(sys.prefix) + os.sep
    index = len(sys.path)
    for position, entry in enumerate(sys.path):
        if entry and (os.path.realpath(entry) + os.sep).startswith(runtime):
            index = position
            break
    sys.path.insert(index, user_site)
