"""The IPython shell scripts run in: IPython's transformers and magics, with CML's shell rules.

Differences from a stock ``InteractiveShell`` (CML compat §1.2):

- ``!cmd`` runs through ``/bin/bash -c`` (IPython uses ``sh``), sharing the workload's stdout and
  stderr so that its output reaches the log as it is written, in order with Python's output.
  A failing command sets ``_exit_code`` and never raises; ``cmd &`` is allowed.
- ``var = !cmd`` captures stdout and stderr as a list of lines (an IPython ``SList``).
- ``$name``/``{expr}`` expand field by field (see ``expand``).
- No input history is written.
"""

from __future__ import annotations

import codecs
import os
import selectors
import shutil
import subprocess
import sys
import types
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.text import LSString, SList
from traitlets.config import Config

from .expand import expand


def _bash() -> str:
    if os.path.exists("/bin/bash"):
        return "/bin/bash"
    return shutil.which("bash") or "/bin/bash"


# Shell-escape methods, shared by the script runner's shell and (through ``patch_shell``) the
# kernel that runs notebooks, so that ``!cmd`` means the same in both.


def var_expand(self: Any, cmd: str, depth: int = 0, formatter: Any = None) -> str:
    namespace = dict(self.user_ns)
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:
        pass
    else:
        namespace.update(frame.f_locals)
    return expand(cmd, namespace)


def system(self: Any, cmd: str) -> None:
    """Run ``cmd`` with bash; its output goes straight to this process's stdout/stderr."""
    command = self.var_expand(cmd, depth=1)
    # Python's buffered output must reach the log before the command's own output.
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        code = subprocess.call([_bash(), "-c", command])
    except KeyboardInterrupt:
        print("^C", file=sys.stderr)
        code = -2
    self.user_ns["_exit_code"] = code


def kernel_system(self: Any, cmd: str) -> None:
    """``system`` for a notebook's kernel: the command's output goes through ``sys.stdout``.

    A kernel's ``sys.stdout`` is its output stream to the client; what a subprocess writes to
    the kernel's file descriptors is forwarded by a separate thread, which on a busy machine
    can lag behind the cell's end, and the client drops output that arrives after it. Reading
    the command's pipes here, in the cell's own thread, sends every line with the cell.
    """
    command = self.var_expand(cmd, depth=1)
    sys.stdout.flush()
    sys.stderr.flush()
    process = subprocess.Popen(
        [_bash(), "-c", command], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None  # both piped above
    streams = {process.stdout: sys.stdout, process.stderr: sys.stderr}
    # A character split across two reads is decoded whole.
    decoders = {pipe: codecs.getincrementaldecoder("utf-8")("replace") for pipe in streams}
    try:
        with selectors.DefaultSelector() as selector:
            for pipe in streams:
                selector.register(pipe, selectors.EVENT_READ)
            while selector.get_map():
                for key, _ in selector.select():
                    chunk = os.read(key.fd, 65536)
                    decoder = decoders[key.fileobj]  # type: ignore[index]
                    text = decoder.decode(chunk, final=not chunk)
                    target = streams[key.fileobj]  # type: ignore[index]
                    if text:
                        target.write(text)
                        target.flush()
                    if not chunk:
                        selector.unregister(key.fileobj)
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        print("^C", file=sys.stderr)
        code = -2
    finally:
        for pipe in streams:
            pipe.close()
    self.user_ns["_exit_code"] = code


def getoutput(self: Any, cmd: str, split: bool = True, depth: int = 0) -> Any:
    """Run ``cmd`` with bash and return its output (stdout and stderr) as lines."""
    command = self.var_expand(cmd, depth=depth + 1)
    sys.stdout.flush()
    sys.stderr.flush()
    completed = subprocess.run(
        [_bash(), "-c", command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    self.user_ns["_exit_code"] = completed.returncode
    text = completed.stdout.decode("utf-8", "replace")
    if split:
        return SList(text.splitlines())
    return LSString(text)


class RunnerShell(InteractiveShell):
    """``InteractiveShell`` whose shell escapes follow CML: bash, streamed, never raising."""

    var_expand = var_expand
    system = system
    getoutput = getoutput


def patch_shell(shell: Any) -> None:
    """Give a running shell (a notebook's kernel) the runner's shell escapes.

    ipykernel runs ``!cmd`` through ``sh`` with pexpect, which also costs seconds per line.
    ``!cmd`` output is read from pipes and written to the kernel's streams (``kernel_system``).
    """
    shell.var_expand = types.MethodType(var_expand, shell)
    shell.system = types.MethodType(kernel_system, shell)
    shell.getoutput = types.MethodType(getoutput, shell)


def shell_config() -> Config:
    config = Config()
    # A job must not write ~/.ipython/profile_default/history.sqlite into the project.
    config.HistoryManager.enabled = False
    return config
