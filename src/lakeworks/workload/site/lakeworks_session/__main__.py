"""Entry point: ``python -m lakeworks_session <session id> <editor>`` (see the package)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CHANNELS = ("shell", "iopub", "stdin", "control", "hb")
LOOPBACK = "127.0.0.1"
LAB_SETTINGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab_settings")


def jupyter_argv(session_id: str, port: str) -> list[str]:
    """JupyterLab without the start-up work a proxied, per-session server does not need.

    Example::

        jupyter_argv("abc", "20001")[:3]  # [sys.executable, "-m", "jupyterlab"]
    """
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ip={LOOPBACK}",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.base_url=/sessions/{session_id}/",
        # Only requests carrying the session's token (which the proxy adds) get in.
        "--ServerApp.identity_provider_class=lakeworks_session.identity.ProxyIdentityProvider",
        "--ServerApp.password=",
        "--ServerApp.root_dir=" + os.environ.get("HOME", os.getcwd()),
        "--ServerApp.terminado_settings={'shell_command': ['/bin/bash']}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        # JupyterLab's defaults for every session (lab_settings/overrides.json): no "notified
        # about Jupyter news?" prompt. A person's own settings still win over these.
        f"--LabApp.app_settings_dir={LAB_SETTINGS}",
        "--ServerApp.quit_button=False",
        # Language-server discovery scans the machine at start-up; sessions do without it.
        "--ServerApp.jpserver_extensions={'jupyter_lsp': False}",
        "--ServerApp.allow_root=True",  # containers and sandboxes often run as root
        # The proxy keeps the browser's Host header; the server itself listens on loopback only.
        "--ServerApp.allow_remote_access=True",
    ]


def kernel_connection(key: str) -> dict[str, object]:
    """The connection file content of the console kernel, from the allocated ports.

    Example::

        kernel_connection("k")["transport"]  # "tcp"
    """
    info: dict[str, object] = {
        f"{name}_port": int(os.environ[f"LAKEWORKS_KERNEL_{name.upper()}_PORT"])
        for name in CHANNELS
    }
    return info | {
        "ip": LOOPBACK,
        "transport": "tcp",
        "key": key,
        "signature_scheme": "hmac-sha256",
        "kernel_name": "python3",
    }


def supervise_kernel(connection_file: str, stopping: threading.Event) -> None:
    """Run the kernel; start it again when it ends (restart), until the session stops."""
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file]
    failures = 0
    while not stopping.is_set():
        began = time.monotonic()
        code = subprocess.call(argv)
        if stopping.is_set():
            return
        failures = failures + 1 if time.monotonic() - began < 2 else 0
        if failures > 5:
            print(f"lakeworks: the console kernel keeps ending (exit {code})", flush=True)
            return
        print("lakeworks: console kernel restarted", flush=True)


def wait_for_port(port: int, timeout: float) -> bool:
    """Whether something listens on 127.0.0.1:``port`` within ``timeout`` seconds.

    Example::

        wait_for_port(1, 0.1)  # False
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def main() -> int:
    session_id, editor = sys.argv[1], sys.argv[2]
    os.environ.setdefault("JUPYTER_RUNTIME_DIR", tempfile.mkdtemp(prefix="jupyter-runtime-"))
    port = os.environ["LAKEWORKS_JUPYTER_PORT"]
    if editor != "workbench":
        os.execv(sys.executable, jupyter_argv(session_id, port))
    key = os.environ.pop("LAKEWORKS_KERNEL_KEY")
    fd, connection_file = tempfile.mkstemp(prefix="console-kernel-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(kernel_connection(key), f)
    stopping = threading.Event()
    kernel = threading.Thread(
        target=supervise_kernel, args=(connection_file, stopping), daemon=True
    )
    kernel.start()
    # The terminal and file API of a workbench session come from a Jupyter server too; it
    # starts once the kernel listens, so the console (what people wait for) gets the CPU first.
    wait_for_port(int(os.environ["LAKEWORKS_KERNEL_SHELL_PORT"]), timeout=10.0)
    server = subprocess.Popen(jupyter_argv(session_id, port))

    def forward(signum: int, frame: object) -> None:
        stopping.set()
        server.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = server.wait()
    stopping.set()
    return code


if __name__ == "__main__":
    sys.exit(main())
