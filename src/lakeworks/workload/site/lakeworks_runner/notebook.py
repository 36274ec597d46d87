"""Run a ``.ipynb`` notebook cell by cell with nbclient (a job whose script is a notebook).

Usage::

    python -m lakeworks_runner.notebook analysis/report.ipynb '--month 2025-01'

- The kernel is ``python3`` of this same interpreter (the runtime's ipykernel), started in the
  working directory (the project root). ``sys.argv`` in the kernel is
  ``[absolute notebook path, *arguments]``, and ``!cmd`` lines follow the script runner's rules
  (bash, ``$name``/``{expr}`` expanded field by field).
- Cells run in order with no time limit; the first cell that raises stops the run, with exit
  status 1. Cell outputs go to stdout/stderr as they arrive, so the log follows the run.
- The executed notebook, outputs included (also when a cell failed), is written to
  ``$LAKEWORKS_OUTPUT_DIR/<notebook name>``. Without ``LAKEWORKS_OUTPUT_DIR`` it is not kept
  (the log still has every output). The notebook in the project is never changed, and no
  ``.out.ipynb`` files appear beside it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from typing import Any

from .process import line_buffered, split_arguments, user_site_on_path

USAGE = "usage: python -m lakeworks_runner.notebook NOTEBOOK [ARGUMENTS]"

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _plain(text: str) -> str:
    """Kernel tracebacks carry terminal colours; logs want plain text."""
    return _ANSI.sub("", text)


def _echo(output: Any) -> None:
    """Copy one cell output to this process's stdout/stderr."""
    kind = output.get("output_type")
    if kind == "stream":
        stream = sys.stderr if output.get("name") == "stderr" else sys.stdout
        stream.write(output.get("text", ""))
        stream.flush()
    elif kind in ("execute_result", "display_data"):
        text = output.get("data", {}).get("text/plain")
        if text:
            print(text, flush=True)
    elif kind == "error":
        sys.stdout.flush()
        print(_plain("\n".join(output.get("traceback", []))), file=sys.stderr, flush=True)


def _client_class() -> Any:
    from nbclient import NotebookClient

    class StreamingClient(NotebookClient):
        """A NotebookClient that also echoes each output as the kernel sends it."""

        def output(self, outs: Any, msg: Any, display_id: Any, cell_index: int) -> Any:
            out = super().output(outs, msg, display_id, cell_index)
            if out is not None:
                _echo(out)
            return out

    return StreamingClient


def run(path: str, arguments: str | None) -> int:
    """Execute the notebook at ``path``; return the exit status."""
    line_buffered()
    notebook_path = os.path.abspath(path)
    try:
        argv = split_arguments(arguments)
    except ValueError as error:
        print(f"lakeworks_runner: cannot split arguments {arguments!r}: {error}", file=sys.stderr)
        return 2
    user_site_on_path()

    import nbformat
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    try:
        notebook = nbformat.read(notebook_path, as_version=4)
    except (OSError, ValueError) as error:
        print(f"lakeworks_runner: cannot read notebook {path}: {error}", file=sys.stderr)
        return 2

    # Run in the kernel before the first cell, leaving no names behind.
    setup = (
        f"__import__('sys').argv = {[notebook_path, *argv]!r}; "
        "__import__('lakeworks_runner.shell', fromlist=['_']).patch_shell(get_ipython())"
    )
    client = _client_class()(
        notebook,
        kernel_name="python3",
        timeout=None,
        allow_errors=False,
        extra_arguments=[f"--IPKernelApp.exec_lines={setup}"],
    )
    status = 0
    # Kernel connection files go to a private directory, not into the project (HOME).
    with tempfile.TemporaryDirectory(prefix="lakeworks-kernel-") as runtime_dir:
        os.environ["JUPYTER_RUNTIME_DIR"] = runtime_dir
        kernel_log = os.path.join(runtime_dir, "kernel.log")
        # The kernel copies what its cells write to its own stdout/stderr too; those copies go
        # to a file (shown if the kernel dies), as the log already has every output once.
        with open(kernel_log, "wb") as log:
            try:
                client.execute(cwd=os.getcwd(), stdout=subprocess.DEVNULL, stderr=log)
            except CellExecutionError:
                # The failing cell's traceback is already in the log (echoed as it arrived).
                print(f"lakeworks_runner: a cell of {path} failed", file=sys.stderr)
                status = 1
            except (DeadKernelError, RuntimeError, TimeoutError) as error:
                print(f"lakeworks_runner: the kernel failed: {error}", file=sys.stderr)
                _print_tail(kernel_log)
                status = 1
            finally:
                _save(notebook, notebook_path)
    return status


def _print_tail(path: str, limit: int = 4000) -> None:
    with open(path, "rb") as handle:
        text = handle.read().decode("utf-8", "replace")
    if text.strip():
        print(_plain(text[-limit:]), file=sys.stderr, flush=True)


def _save(notebook: Any, notebook_path: str) -> None:
    output_dir = os.environ.get("LAKEWORKS_OUTPUT_DIR")
    if not output_dir:
        return
    import nbformat

    os.makedirs(output_dir, exist_ok=True)
    target = os.path.join(output_dir, os.path.basename(notebook_path))
    nbformat.write(notebook, target)
    print(f"lakeworks_runner: executed notebook saved as {target}", file=sys.stderr)


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2 or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 2
    return run(argv[0], argv[1] if len(argv) == 2 else None)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
