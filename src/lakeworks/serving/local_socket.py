"""The model gateway's Unix socket, for workloads on this machine.

``cdsw.call_model`` in a workload calls the gateway in the server. Over TCP, an isolated
workload reaches the server's port through pasta, which relays each answer as two segments
(uvicorn writes the head, then the body) and holds the body until the head is acknowledged:
with the client's delayed ACK, 40 ms a call (1.8 ms from outside). A Unix socket has no TCP
and no network namespace in between, so the call costs what it costs from outside.

- The server binds ``<data>/run/gateway.sock`` beside its TCP port (``bind``; both go to
  uvicorn as ``sockets``). The directory is the server's; the socket is mode 0666, since the
  gateway checks access keys on every call, as on its TCP port.
- Every sandbox sees that directory read-only at ``/run/lakeworks`` (``SERVER_DIR``): a
  workload can connect to the socket, not replace it, so the server never follows a path a
  workload controls. ``LAKEWORKS_MODEL_GATEWAY_SOCKET`` names the socket as the workload sees
  it; ``cml.models_v1`` falls back to ``LAKEWORKS_MODEL_GATEWAY_URL`` when it cannot connect
  (a server started without the socket).
- The socket answers model calls only (``ModelGateway``): the rest of the server stays on
  its TCP port, behind the proxy headers and sign-in rules written for it.
"""

from __future__ import annotations

import contextlib
import os
import socket

from starlette.types import Scope

from lakeworks.config import Settings
from lakeworks.services.environment import local_gateway_socket

BACKLOG = 2048


def wanted(settings: Settings) -> bool:
    """Whether workloads run on this machine, where the socket can reach them."""
    return bool(local_gateway_socket(settings))


def bind(settings: Settings) -> socket.socket:
    """A listening socket at ``settings.gateway_socket``, replacing a previous server's.

    Bound through the directory's descriptor, so the data directory's path may be longer
    than a socket address allows (108 bytes).

    Example::

        sockets = [config.bind_socket(), local_socket.bind(settings)]
        uvicorn.Server(config).run(sockets=sockets)
    """
    directory = settings.server_socket_dir
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    directory.chmod(0o755)
    path = settings.gateway_socket
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        dir_fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
        try:
            sock.bind(f"/proc/self/fd/{dir_fd}/{path.name}")
        finally:
            os.close(dir_fd)
        path.chmod(0o666)
        sock.listen(BACKLOG)
    except BaseException:
        with contextlib.suppress(OSError):
            sock.close()
        raise
    return sock


def on_socket(scope: Scope) -> bool:
    """Whether an ASGI request came over a Unix socket: uvicorn gives such a connection no
    server address (``scope["server"]`` is ``None``); a TCP connection always has one."""
    return scope.get("server", ()) is None
