"""Keep-alive connections from the gateway to the replicas, speaking the replica protocol.

Both ends are Lakeworks' (``lakeworks_serving.server``): the replica answers every request with
a status line, ``Content-Length`` and, when it is draining, ``Connection: close``. That small,
fixed shape is why this is not a general HTTP client: a general one (httpx) spent more time
per prediction than the model did, and the gateway sits on every prediction's path.

Errors say what the gateway may do next:

- ``ReplicaUnreachable``: the request never reached the replica (connection refused, or a
  pooled connection the replica had already closed): another replica may take it.
- ``ReplicaTimeout``: no answer in time; the connection is dropped.
- ``ReplicaGone``: the replica closed the connection mid-request (it crashed or was killed).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

HEADER_LIMIT = 64 * 1024
CONNECT_TIMEOUT = 2.0


class ReplicaError(Exception):
    pass


class ReplicaUnreachable(ReplicaError):
    pass


class ReplicaTimeout(ReplicaError):
    pass


class ReplicaGone(ReplicaError):
    pass


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        """Still open at our end and not closed by the replica while it sat in the pool."""
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class ReplicaPool:
    """Idle connections per replica address, for one event loop.

    Example::

        pool = ReplicaPool()
        status, body = await pool.post("127.0.0.1:8090", "/predict", b"{}", {}, timeout=30)
        await pool.close()
    """

    def __init__(self, max_idle_per_replica: int = 64) -> None:
        self.max_idle = max_idle_per_replica
        self._idle: dict[str, deque[_Connection]] = {}

    async def _checkout(self, address: str, socket: str) -> _Connection:
        idle = self._idle.get(address)
        while idle:
            connection = idle.pop()
            if connection.usable():
                return connection
            connection.close()
        host, _, port = address.rpartition(":")
        try:
            if socket:
                opening = asyncio.open_unix_connection(socket, limit=HEADER_LIMIT)
            else:
                opening = asyncio.open_connection(host, int(port), limit=HEADER_LIMIT)
            reader, writer = await asyncio.wait_for(opening, CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise ReplicaUnreachable(f"{address}: {exc or type(exc).__name__}") from exc
        return _Connection(reader, writer)

    def _checkin(self, address: str, connection: _Connection) -> None:
        idle = self._idle.setdefault(address, deque())
        if len(idle) >= self.max_idle or not connection.usable():
            connection.close()
            return
        idle.append(connection)

    async def post(
        self,
        address: str,
        path: str,
        body: bytes,
        headers: dict[str, str],
        *,
        timeout: float,
        socket: str = "",
    ) -> tuple[int, bytes]:
        """(status, body) of the replica's answer to ``POST path``, over the Unix socket
        ``socket`` when given (connections are pooled per ``address`` all the same)."""
        connection = await self._checkout(address, socket)
        head = [f"POST {path} HTTP/1.1", f"Host: {address}", f"Content-Length: {len(body)}"]
        head.extend(f"{name}: {value}" for name, value in headers.items())
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        try:
            connection.writer.write(request)
            # asyncio.timeout, not wait_for: wait_for wraps the read in a task of its own,
            # a task per prediction on the gateway's path.
            async with asyncio.timeout(timeout):
                status, payload, keep = await _read_answer(connection)
        except TimeoutError as exc:
            connection.close()
            raise ReplicaTimeout(f"{address} did not answer within {timeout:g}s") from exc
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            connection.close()
            raise ReplicaGone(f"{address} closed the connection: {exc}") from exc
        except BaseException:  # cancelled: the answer would arrive on a reused connection
            connection.close()
            raise
        if keep:
            self._checkin(address, connection)
        else:
            connection.close()
        return status, payload

    async def close(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()


async def _read_answer(connection: _Connection) -> tuple[int, bytes, bool]:
    """(status, body, keep-alive) of one answer; ``ValueError`` if it is not the protocol's."""
    head = await connection.reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    version, status, _ = [*lines[0].split(b" ", 2), b""][:3]
    if not version.startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP answer: {lines[0][:80]!r}")
    length = 0
    keep = version == b"HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    payload = await connection.reader.readexactly(length) if length else b""
    return int(status), payload, keep
