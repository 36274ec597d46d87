"""The workbench console: a bridge between a browser websocket and the session's kernel.

The kernel runs inside the session's workload (``lakeworks_session``), listening on five
loopback ports from the pool with an HMAC key the platform generated; this module talks to it
with ``jupyter_client`` over ZMQ. The browser speaks a small JSON protocol:

- browser → server: ``{"op": "execute", "code": "..."}``, ``{"op": "interrupt"}``,
  ``{"op": "restart"}``;
- server → browser: ``{"type": "ready"}``, then every IOPub message of the kernel as
  ``{"type": <msg_type>, "content": {...}, "parent": <msg id>}`` (``stream``,
  ``execute_input``, ``display_data``, ``execute_result``, ``error``, ``status``, ...), and
  ``{"type": "executing", "msg_id": ...}`` answering each execute, ``{"type": "restarting"}``.

Rich output (``text/html`` tables, ``image/png``) travels as the kernel sends it; the page
renders HTML in a sandboxed iframe, images as data URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
from collections.abc import Awaitable, Callable
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient

from lakeworks.errors import InvalidInput, InvalidState
from lakeworks.services.sessions import KERNEL_CHANNELS, KERNEL_PORTS, Endpoint

MAX_MESSAGE_BYTES = 1024 * 1024  # one browser message (code to run); more is refused
READY_TIMEOUT_SECONDS = 60.0
OPS = ("execute", "interrupt", "restart")


def client_for(endpoint: Endpoint) -> AsyncKernelClient:
    """A client of the session's console kernel (channels not started yet)."""
    if not endpoint.kernel_key or any(p not in endpoint.ports for p in KERNEL_PORTS):
        raise InvalidState("This session has no console kernel (it is not a workbench session).")
    client = AsyncKernelClient()
    client.load_connection_info(
        {
            "ip": "127.0.0.1",
            "transport": "tcp",
            "key": endpoint.kernel_key,
            "signature_scheme": "hmac-sha256",
            **{
                f"{channel}_port": endpoint.ports[name]
                for channel, name in zip(KERNEL_CHANNELS, KERNEL_PORTS, strict=True)
            },
        }
    )
    return client


async def wait_ready(endpoint: Endpoint, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    """Return once the kernel answers ``kernel_info`` (the console can run code)."""
    client = client_for(endpoint)
    client.start_channels()
    try:
        await _ready(client, timeout)
    finally:
        _close(client)


def _close(client: AsyncKernelClient) -> None:
    """Stop the channels and destroy the client's own ZeroMQ context now (left to the
    garbage collector, the context may go first and warn that it was never closed)."""
    client.stop_channels()
    if not client.context.closed:
        client.context.destroy(linger=0)


async def _ready(client: AsyncKernelClient, timeout: float) -> None:
    """Wait for ``kernel_info``. A kernel still starting (or restarting) has no heartbeat
    yet, which jupyter_client reports as "died": keep asking until the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await client.wait_for_ready(timeout=max(deadline - loop.time(), 0.1))
            return
        except RuntimeError as exc:
            if loop.time() >= deadline:
                raise InvalidState(f"The console kernel did not answer: {exc}") from exc
            await asyncio.sleep(0.05)


def parse(text: str) -> dict[str, Any]:
    """One browser message, checked: size, JSON, a known ``op``."""
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise InvalidInput(f"A console message may be at most {MAX_MESSAGE_BYTES} bytes.")
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise InvalidInput("A console message must be JSON.") from exc
    if not isinstance(message, dict) or message.get("op") not in (
        "execute",
        "interrupt",
        "restart",
    ):
        raise InvalidInput("A console message needs an op: execute, interrupt or restart.")
    if message["op"] == "execute" and not isinstance(message.get("code"), str):
        raise InvalidInput("execute needs the code to run, as a string.")
    return message


class Bridge:
    """One browser's console connection to one kernel."""

    def __init__(self, endpoint: Endpoint, send: Callable[[dict[str, Any]], Awaitable[None]]):
        self.client = client_for(endpoint)
        self.send = send
        self._relay: asyncio.Task[None] | None = None
        self._kernel_session = ""

    async def open(self) -> None:
        self.client.start_channels()
        await _ready(self.client, READY_TIMEOUT_SECONDS)
        self._kernel_session = await self._kernel_session_id(READY_TIMEOUT_SECONDS)
        # Also drains the status messages of the requests above, so the browser's first
        # message after "ready" answers its own request.
        await self._iopub_connected(READY_TIMEOUT_SECONDS)
        self._relay = asyncio.create_task(self._relay_iopub())
        await self.send({"type": "ready"})

    async def _kernel_session_id(self, timeout: float, other_than: str = "") -> str:
        """The session id of the kernel answering ``kernel_info`` (one per kernel process),
        waiting until it differs from ``other_than``: after a restart the old kernel may
        still answer for a moment, and what it receives is lost when it exits."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            msg_id = self.client.kernel_info()
            with contextlib.suppress(queue.Empty):
                while True:  # skip replies to earlier requests (execute replies are unread)
                    reply = await self.client.get_shell_msg(timeout=1.0)
                    if reply.get("parent_header", {}).get("msg_id") == msg_id:
                        session = str(reply["header"].get("session", ""))
                        if session != other_than:
                            return session
                        break
            await asyncio.sleep(0.1)
        raise InvalidState("The console kernel did not come back after the restart.")

    async def _iopub_connected(self, timeout: float) -> None:
        """Wait until the new kernel's IOPub reaches us (a subscription made while the kernel
        restarts misses what it publishes first): run a silent no-op until its idle status
        arrives."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            msg_id = self.client.execute("", silent=True, store_history=False)
            with contextlib.suppress(queue.Empty):
                while True:
                    msg = await self.client.get_iopub_msg(timeout=0.5)
                    if (
                        msg.get("parent_header", {}).get("msg_id") == msg_id
                        and msg["header"]["msg_type"] == "status"
                        and msg["content"].get("execution_state") == "idle"
                    ):
                        return
        raise InvalidState("The console kernel's output channel did not reconnect.")

    async def _relay_iopub(self) -> None:
        while True:
            msg = await self.client.get_iopub_msg()
            await self.send(
                {
                    "type": msg["header"]["msg_type"],
                    "content": _jsonable(msg["content"]),
                    "parent": msg.get("parent_header", {}).get("msg_id", ""),
                }
            )

    async def handle(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "execute":
            msg_id = self.client.execute(message["code"], allow_stdin=False, store_history=True)
            await self.send({"type": "executing", "msg_id": msg_id})
        elif op == "interrupt":
            request = self.client.session.msg("interrupt_request", {})
            self.client.control_channel.send(request)
        elif op == "restart":
            await self.send({"type": "restarting"})
            # Stop relaying while the kernel changes: the checks below read IOPub themselves.
            await self._stop_relay()
            self.client.shutdown(restart=True)
            # The session's supervisor starts the kernel again on the same ports.
            self._kernel_session = await self._kernel_session_id(
                READY_TIMEOUT_SECONDS, other_than=self._kernel_session
            )
            await self._iopub_connected(READY_TIMEOUT_SECONDS)
            self._relay = asyncio.create_task(self._relay_iopub())
            await self.send({"type": "ready"})

    async def _stop_relay(self) -> None:
        if self._relay is not None:
            self._relay.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._relay
            self._relay = None

    async def close(self) -> None:
        await self._stop_relay()
        _close(self.client)


def _jsonable(value: Any) -> Any:
    """Kernel content may hold datetimes (and bytes in buffers); JSON gets their text."""
    return json.loads(json.dumps(value, default=str))
