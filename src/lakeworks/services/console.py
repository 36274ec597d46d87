"""The workbench console: a bridge between a browser websocket and the session's kernel.

The kernel runs inside the session's workload (``lakeworks_session``), listening on five
loopback ports from the pool with an HMAC key the platform generated; this module talks to it
with ``jupyter_client`` over ZMQ. The browser speaks a small JSON protocol:

- browser → server: ``{"op": "execute", "code": "..."}``, ``{"op": "interrupt"}``,
  ``{"op": "restart"}``, ``{"op": "clear"}`` (forget the transcript);
- server → browser: first ``{"type": "transcript", "messages": [...]}`` (what the console showed
  before, see below), then ``{"type": "ready"}``, then every IOPub message of the kernel as
  ``{"type": <msg_type>, "content": {...}, "parent": <msg id>}`` (``stream``,
  ``execute_input``, ``display_data``, ``execute_result``, ``error``, ``status``, ...), and
  ``{"type": "executing", "msg_id": ...}`` answering each execute, ``{"type": "restarting"}``,
  ``{"type": "cleared"}``.

The transcript is the session's console history, kept by the server under its data directory
(never in the project, which the workload can write): the outputs of the code each browser ran,
so leaving the page and coming back shows them. It is bounded (``MAX_TRANSCRIPT_BYTES``; the
oldest half goes when it is full; one huge output is kept as a note of its size). A browser
that leaves while its code still runs keeps recording that code's output until it ends (at most
``LINGER_SECONDS``).

Rich output (``text/html`` tables, ``image/png``) travels as the kernel sends it; the page
renders HTML in a sandboxed iframe, images as data URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient

from lakeworks.errors import InvalidInput, InvalidState
from lakeworks.services.sessions import KERNEL_CHANNELS, KERNEL_PORTS, Endpoint

MAX_MESSAGE_BYTES = 1024 * 1024  # one browser message (code to run); more is refused
READY_TIMEOUT_SECONDS = 60.0
OPS = ("execute", "interrupt", "restart", "clear")
MAX_TRANSCRIPT_BYTES = 1024 * 1024
MAX_KEPT_MESSAGE_BYTES = 256 * 1024
KEPT_TYPES = frozenset({"execute_input", "stream", "display_data", "execute_result", "error"})
LINGER_SECONDS = 600.0


def transcript_path(data_dir: Path, session_id: str) -> Path:
    """Where the server keeps a session's console transcript (the id is the server's own)."""
    return data_dir / "consoles" / f"{session_id}.jsonl"


class Transcript:
    """A session's console transcript: JSON lines, bounded in size.

    Example::

        t = Transcript(Path("/tmp/s.jsonl"))
        t.append({"type": "stream", "content": {"name": "stdout", "text": "hi"}})
        t.read()[-1]["content"]["text"]  # "hi"
    """

    def __init__(self, path: Path, limit: int = MAX_TRANSCRIPT_BYTES) -> None:
        self.path = path
        self.limit = limit

    def append(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, separators=(",", ":"))
        if len(line) > MAX_KEPT_MESSAGE_BYTES:
            note = f"[an output of {len(line) // 1024} KiB is not kept in the console history]\n"
            line = json.dumps(
                {
                    "type": "stream",
                    "content": {"name": "stderr", "text": note},
                    "parent": message.get("parent", ""),
                }
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            size = f.tell()
        if size > self.limit:
            self._keep_newest(self.limit // 2)

    def _keep_newest(self, budget: int) -> None:
        kept: list[str] = []
        for line in reversed(self.path.read_text(encoding="utf-8").splitlines()):
            budget -= len(line) + 1
            if budget < 0:
                break
            kept.append(line)
        partial = self.path.with_suffix(".partial")
        partial.write_text("".join(line + "\n" for line in reversed(kept)), encoding="utf-8")
        os.replace(partial, self.path)

    def read(self) -> list[dict[str, Any]]:
        """The kept messages, oldest first (lines that do not parse are skipped)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        messages = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if isinstance(message, dict):
                    messages.append(message)
        return messages

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


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


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def history(transcript: Transcript) -> list[tuple[str, str]]:
    """A transcript as ``(kind, text)`` blocks for a page without the console (an ended
    session): ``in`` (code run), ``out``, ``err``, ``rich`` (what only a live console draws).

    Example::

        history(Transcript(path))  # [("in", "print(1)"), ("out", "1\\n")]
    """
    blocks: list[tuple[str, str]] = []
    for message in transcript.read():
        content = message.get("content")
        if not isinstance(content, dict):
            continue
        kind = message.get("type")
        if kind == "execute_input":
            blocks.append(("in", str(content.get("code", ""))))
        elif kind == "stream":
            name = "err" if content.get("name") == "stderr" else "out"
            blocks.append((name, str(content.get("text", ""))))
        elif kind == "error":
            traceback = content.get("traceback") or [
                f"{content.get('ename')}: {content.get('evalue')}"
            ]
            blocks.append(("err", ANSI.sub("", "\n".join(str(line) for line in traceback))))
        elif kind in ("display_data", "execute_result"):
            data = content.get("data")
            if not isinstance(data, dict):
                data = {}
            if "text/html" in data or any(k.startswith("image/") for k in data):
                blocks.append(("rich", "[a table or image, shown in the live console]"))
            else:
                blocks.append(("out", str(data.get("text/plain", ""))))
    return blocks


def parse(text: str) -> dict[str, Any]:
    """One browser message, checked: size, JSON, a known ``op``."""
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise InvalidInput(f"A console message may be at most {MAX_MESSAGE_BYTES} bytes.")
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise InvalidInput("A console message must be JSON.") from exc
    if not isinstance(message, dict) or message.get("op") not in OPS:
        raise InvalidInput("A console message needs an op: execute, interrupt, restart or clear.")
    if message["op"] == "execute" and not isinstance(message.get("code"), str):
        raise InvalidInput("execute needs the code to run, as a string.")
    return message


class Bridge:
    """One browser's console connection to one kernel."""

    def __init__(
        self,
        endpoint: Endpoint,
        send: Callable[[dict[str, Any]], Awaitable[None]],
        transcript: Transcript | None = None,
    ):
        self.client = client_for(endpoint)
        self.send = send
        self.transcript = transcript
        self._relay: asyncio.Task[None] | None = None
        self._kernel_session = ""
        # The executions this browser asked for that have not ended yet (their output goes
        # to the transcript; another browser's go through its own bridge).
        self._pending: set[str] = set()
        self._all_done = asyncio.Event()
        self._all_done.set()

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
            out = {
                "type": msg["header"]["msg_type"],
                "content": _jsonable(msg["content"]),
                "parent": msg.get("parent_header", {}).get("msg_id", ""),
            }
            if out["parent"] in self._pending:
                if self.transcript is not None and out["type"] in KEPT_TYPES:
                    self.transcript.append(out)
                if out["type"] == "status" and out["content"].get("execution_state") == "idle":
                    self._pending.discard(out["parent"])
                    if not self._pending:
                        self._all_done.set()
            await self.send(out)

    async def linger(self, timeout: float = LINGER_SECONDS) -> None:
        """After the browser left: keep recording until its running code ends (bounded)."""
        if self._relay is None or self._relay.done():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_done.wait(), timeout)

    async def handle(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "execute":
            msg_id = self.client.execute(message["code"], allow_stdin=False, store_history=True)
            self._pending.add(msg_id)
            self._all_done.clear()
            await self.send({"type": "executing", "msg_id": msg_id})
        elif op == "clear":
            if self.transcript is not None:
                self.transcript.clear()
            await self.send({"type": "cleared"})
        elif op == "interrupt":
            request = self.client.session.msg("interrupt_request", {})
            self.client.control_channel.send(request)
        elif op == "restart":
            await self.send({"type": "restarting"})
            # Stop relaying while the kernel changes: the checks below read IOPub themselves.
            await self._stop_relay()
            self._pending.clear()
            self._all_done.set()
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
