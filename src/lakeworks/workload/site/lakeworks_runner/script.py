"""Run a ``.py`` file the way CML does: the whole file as one IPython cell (compat §1.2-§1.4).

Usage (argv as a job run gets it; ARGUMENTS is one string, split like a POSIX shell)::

    python -m lakeworks_runner jobs/train.py '--rows 500 --seed 7'

- IPython syntax works: ``!cmd`` (bash, also indented inside blocks), ``var = !cmd``,
  ``%pip``, ``%cd``, ``%env`` and the other line magics.
- ``from __future__ import ...`` may follow other statements: such imports are hoisted.
- ``__name__ == "__main__"`` and, as in CML (an IPython cell), ``__file__`` is not defined:
  libraries that locate files from ``__main__`` (Flask's ``Flask(__name__)`` finding
  ``templates/``) then use the working directory, the project root, as they do in CML.
  ``sys.argv`` is ``[absolute script path, *arguments]`` (so a reloader's re-exec works),
  ``sys.path[0] == ''`` and the project root (the working directory at start) is on
  ``sys.path``. The same holds for jobs and applications.
- ``exit()``/``quit()`` are Python's own (they end the script with that status).
- When the file ends with an expression (and no ``;``), its value is printed, as a cell's is.
- Exit status: 0 when the script completes or calls ``sys.exit(0)``; 1 after an uncaught
  exception (traceback on stderr); ``n`` after ``sys.exit(n)``.
"""

from __future__ import annotations
import __future__

import ast
import builtins
import os
import sys
import tokenize
import types

from .process import line_buffered, project_sys_path, split_arguments, user_site_on_path

# Imported only where used: typing and traceback (re, enum, linecache...) cost tens of
# milliseconds before a job's first line under load (issue 17). Type checkers take any
# constant named TYPE_CHECKING for true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USAGE = "usage: python -m lakeworks_runner SCRIPT [ARGUMENTS]"


def _read_source(path: str) -> str:
    # tokenize.open honours PEP 263 coding cookies, as Python does for scripts.
    with tokenize.open(path) as handle:
        return handle.read()


def _hoist_future_imports(tree: ast.Module, path: str) -> tuple[list[ast.stmt], int]:
    """Split off ``from __future__`` imports; return the other statements and their flags."""
    flags = 0
    body: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            # Compiled alone, the import is at the top: Python itself reports a bad feature.
            compile(ast.Module(body=[node], type_ignores=[]), path, "exec", dont_inherit=True)
            for alias in node.names:
                flags |= getattr(__future__, alias.name).compiler_flag
        else:
            body.append(node)
    return body, flags


def compile_cell(source: str, transformed: str, path: str) -> tuple[Any, Any]:
    """Compile the transformed cell; return (code for the body, code for a trailing expression).

    The trailing expression is compiled apart so that its value can be shown, as IPython shows
    a cell's last expression; it is ``None`` when there is none or the cell ends with ``;``.
    """
    tree = ast.parse(transformed, filename=path)
    body, flags = _hoist_future_imports(tree, path)
    last: Any = None
    final = body[-1] if body else None
    if isinstance(final, ast.Expr) and not source.rstrip().endswith(";"):
        body.pop()
        expression = ast.Expression(body=final.value)
        last = compile(expression, path, "eval", flags=flags, dont_inherit=True)
    module = ast.Module(body=body, type_ignores=[])
    code = compile(module, path, "exec", flags=flags, dont_inherit=True)
    return code, last


def _print_exception(error: BaseException) -> None:
    tb = error.__traceback__
    # Leave out this runner's own frames: the log shows the user's code first.
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    sys.stdout.flush()
    import traceback

    traceback.print_exception(type(error), error, tb, file=sys.stderr)
    sys.stderr.flush()


def _show(value: Any) -> None:
    if value is None:
        return
    from IPython.lib.pretty import pretty

    print(pretty(value))


def _plain_python(source: str, path: str) -> tuple[Any, Any] | None:
    """The compiled cell when ``source`` is plain Python, else None (IPython syntax such as
    ``!cmd``, ``%magic`` or ``obj?``, or an error that IPython's path reports).

    IPython's transformers leave plain Python as it is, so such a script runs without
    importing IPython at start: that import and the shell cost about a third of a second on
    an idle machine, most of a job's start (issue 17). The shell comes on first use
    (``get_ipython()``, ``display()``), the same shell."""
    try:
        return compile_cell(source, source, path)
    except SyntaxError:
        return None


def _shell(main: types.ModuleType) -> Any:
    """The IPython shell whose namespace is ``main``'s (created once; later calls get it)."""
    from .shell import RunnerShell, shell_config

    if RunnerShell.initialized():
        return RunnerShell.instance()
    names = dict(main.__dict__)
    shell = RunnerShell.instance(user_module=main, config=shell_config())
    # Python's exit()/quit() end the script; IPython's only ask an interactive shell to close.
    for name in ("exit", "quit"):
        shell.user_ns.pop(name, None)
    # A shell created mid-script (on first use) must not replace the script's own names.
    shell.user_ns.update(names)
    # Modules the script imports may call get_ipython() as a builtin, as in IPython.
    builtins.get_ipython = shell.get_ipython  # type: ignore[attr-defined]
    return shell


def _ipython_on_demand(main: types.ModuleType) -> None:
    """What IPython's shell puts in place at start, with the shell created on first use: the
    ``get_ipython``, ``display`` and ``__IPYTHON__`` builtins, and the script as
    ``__main__`` (so that pickle finds what it defines)."""
    sys.modules["__main__"] = main

    def get_ipython() -> Any:
        return _shell(main)

    def display(*objs: Any, **kwargs: Any) -> Any:
        _shell(main)
        from IPython.display import display as ipython_display

        return ipython_display(*objs, **kwargs)

    builtins.get_ipython = get_ipython  # type: ignore[attr-defined]
    builtins.display = display  # type: ignore[attr-defined]
    builtins.__IPYTHON__ = True  # type: ignore[attr-defined]


def run(path: str, arguments: str | None) -> int:
    """Run the script at ``path``; return the exit status (``sys.exit`` propagates)."""
    line_buffered()
    script = os.path.abspath(path)
    project_root = os.getcwd()
    try:
        source = _read_source(script)
    except OSError as error:
        print(f"lakeworks_runner: cannot read {path}: {error.strerror}", file=sys.stderr)
        return 2
    try:
        argv = split_arguments(arguments)
    except ValueError as error:
        print(f"lakeworks_runner: cannot split arguments {arguments!r}: {error}", file=sys.stderr)
        return 2

    sys.argv = [script, *argv]
    project_sys_path(project_root)
    user_site_on_path()

    # No __file__, as IPython (CML's runner) leaves it: Flask(__name__) then finds templates/
    # and static/ in the working directory, where CML projects put them.
    main = types.ModuleType("__main__")
    try:
        compiled = _plain_python(source, script)
        if compiled is None:
            code, last = compile_cell(source, _shell(main).transform_cell(source), script)
        else:
            code, last = compiled
            _ipython_on_demand(main)
    except SyntaxError as error:
        import traceback

        traceback.print_exception(type(error), error, None, file=sys.stderr)
        return 1
    namespace = main.__dict__

    try:
        exec(code, namespace)
        if last is not None:
            _show(eval(last, namespace))
    except (SystemExit, KeyboardInterrupt):
        # Python's own handling: the exit status (or message) of sys.exit, SIGINT's status.
        raise
    except BaseException as error:
        _print_exception(error)
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2 or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 2
    return run(argv[0], argv[1] if len(argv) == 2 else None)
