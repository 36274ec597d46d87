"""Kept-alive HTTP/1.1 connections from the proxy to workloads on 127.0.0.1.

``h11`` speaks the protocol (message framing, chunked bodies, when a connection may be reused);
this module keeps the idle connections, one LIFO stack per target, for the event loop that
opened them. It replaces httpx here because the proxy sits on every request of every app page:
httpx's pool and its anyio streams cost more per request than forwarding itself (the pool
checked every idle connection's socket on each request).

Example::

    pool = UpstreamPool()
    connection = await pool.checkout("127.0.0.1:20001")
    await connection.send(h11.Request(method="GET", target="/", headers=[("host", "app")]))
    await connection.send(h11.EndOfMessage())
    response = await connection.response()
    ...
    pool.release("127.0.0.1:20001", connection)
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque
from typing import Any

import h11

CONNECT_TIMEOUT_SECONDS = 10.0
READ_CHUNK = 64 * 1024
MAX_IDLE_PER_TARGET = 32


class Unreachable(OSError):
    """No connection could be made to the target (nothing listens, or it timed out)."""


class Connection:
    """One upstream connection and its h11 state machine."""

    __slots__ = ("h11", "reader", "reused", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(our_role=h11.CLIENT)
        self.reused = False

    def usable(self) -> bool:
        """Open at both ends: the app did not close it while it sat idle."""
        return not self.writer.is_closing() and not self.reader.at_eof()

    async def send(self, event: Any) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def next_event(self) -> Any:
        """The next h11 event from the app, reading as needed (``ConnectionError`` on EOF
        before the message is complete: h11 raises ``RemoteProtocolError``, mapped here)."""
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise ConnectionError(f"the application broke HTTP: {exc}") from exc
            if event is not h11.NEED_DATA:
                return event
            data = await self.reader.read(READ_CHUNK)
            self.h11.receive_data(data)  # b"" tells h11 the app closed its side

    async def response(self) -> h11.Response:
        """The final response head (1xx interim responses are skipped)."""
        while True:
            event = await self.next_event()
            if isinstance(event, h11.Response):
                return event
            if isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the application closed the connection before answering")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class UpstreamPool:
    def __init__(self) -> None:
        self._idle: dict[str, deque[Connection]] = {}

    async def checkout(self, target: str, *, fresh: bool = False) -> Connection:
        """An idle connection to ``target`` (``host:port``), else a new one."""
        idle = self._idle.get(target)
        while idle and not fresh:
            connection = idle.pop()
            if connection.usable():
                connection.reused = True
                return connection
            connection.close()
        host, _, port = target.rpartition(":")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, int(port), limit=READ_CHUNK),
                CONNECT_TIMEOUT_SECONDS,
            )
        except (OSError, TimeoutError) as exc:
            raise Unreachable(f"{target}: {exc or type(exc).__name__}") from exc
        return Connection(reader, writer)

    def release(self, target: str, connection: Connection) -> None:
        """Keep ``connection`` for the next request if its exchange ended cleanly, else close."""
        state = connection.h11
        if state.our_state is h11.DONE and state.their_state is h11.DONE:
            state.start_next_cycle()
            idle = self._idle.setdefault(target, deque())
            if len(idle) < MAX_IDLE_PER_TARGET and connection.usable():
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, UpstreamPool] = (
    weakref.WeakKeyDictionary()
)


def pool() -> UpstreamPool:
    """The running event loop's pool (created on first use)."""
    loop = asyncio.get_running_loop()
    found = _pools.get(loop)
    if found is None:
        found = _pools[loop] = UpstreamPool()
    return found


def close_pool() -> None:
    """Close the running loop's idle connections (server shutdown)."""
    found = _pools.pop(asyncio.get_running_loop(), None)
    if found is not None:
        found.close()
