"""stdin/stdout for the proxy's agent side without a thread hop per message.

The SDK's ``stdio_server`` reads each line and writes (then flushes) each reply through anyio's
worker threads: three thread hops per ``tools/call``, a third of what the proxy added to a call.
When stdin and stdout are pipes or sockets (what an MCP client gives a server it starts), they are
served by the event loop itself; anything else (a terminal, a file) keeps the SDK's own streams.
As the SDK does, fd 0 and 1 point at the null device and stderr while serving, so stray output
from a library cannot corrupt the wire; they are restored on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Protocol

from mcp.server.stdio import stdio_server

__all__ = ["LineTap", "Wire", "fast_stdio_server", "is_pipe"]


class Wire(Protocol):
    """The agent's pipe as the fast path writes it: whole lines, in the order written."""

    async def write(self, text: str) -> None:
        """Write ``text`` and wait until the pipe has room again."""

    def write_now(self, text: str) -> None:
        """Write ``text`` without yielding to the event loop (kept in the transport's buffer if the
        pipe is full); ``drain`` afterwards."""

    async def drain(self) -> None:
        """Wait until the pipe has room again."""


class LineTap(Protocol):
    """Sees each line from the agent before the SDK does (``_fast.ClientLane``)."""

    def attach(self, wire: Wire) -> None: ...

    def from_client(self, line: str) -> bool: ...


# A message is one line; the proxy refuses arguments past its own limit after reading them, so the
# reader only has to hold any line a client may legitimately send.
_LINE_LIMIT = 1 << 30


def is_pipe(fd: int) -> bool:
    """Whether ``fd`` is a pipe or a socket (the event loop can serve those without threads)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class _LineReader(asyncio.Protocol):
    """The agent's stdin as lines. A line that arrives while the SDK's reader waits for one (every
    line before it handed on, so the order is the one reading it would give) is offered to the tap
    right in the pipe's callback: a fast call starts one event-loop turn sooner (the reader's task
    is not woken for it)."""

    def __init__(self, tap: LineTap | None) -> None:
        self._tap = tap
        self._buffer = bytearray()
        self._lines: deque[tuple[bytes, bool]] = deque()  # (line, whether the tap declined it)
        self._queued = 0  # bytes in ``_lines``
        self._eof = False
        self._overrun = False
        self._waiter: asyncio.Future[None] | None = None
        self._transport: asyncio.ReadTransport | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        # what the buffer held holds no newline (the lines before it were taken): only ``data`` is
        # searched, once, as a StreamReader does (a long line in many reads is not quadratic)
        at = len(self._buffer)
        self._buffer += data
        start = 0
        while (end := self._buffer.find(b"\n", at)) >= 0:
            line = bytes(self._buffer[start : end + 1])
            start = at = end + 1
            offered = self._tap is not None and self._waiter is not None and not self._lines
            # (offered only with every line before it handed on: the order reading gives)
            if offered and self._taken(line):
                continue
            self._lines.append((line, offered))
            self._queued += len(line)
        if start:
            del self._buffer[:start]
        if len(self._buffer) > _LINE_LIMIT:  # as a StreamReader gives up on an endless line
            self._buffer.clear()
            self._overrun = True
        self._wake()
        full = self._queued + len(self._buffer) > 2 * _LINE_LIMIT
        if full and not self._paused and self._transport is not None:
            self._transport.pause_reading()
            self._paused = True

    def _taken(self, line: bytes) -> bool:
        """Whether ``line`` is dealt with in the pipe's callback: taken by the tap, or queued as not
        offered when the tap raised (an error there would leave the chunk's lines half handled,
        to be lost or handed on twice): the tap's error then comes in the reader's turn, as before."""
        assert self._tap is not None
        try:
            return self._tap.from_client(line.decode("utf-8", "replace"))
        except Exception:  # noqa: BLE001 - raised again where the SDK's reader sees it (``_Lines``)
            self._lines.append((line, False))
            self._queued += len(line)
            return True

    def eof_received(self) -> bool | None:
        self._eof = True
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def readline(self) -> tuple[bytes, bool]:
        """The next line (with its newline), the last one without, or b"" at the end; and whether
        the tap was offered it already (and declined it)."""
        while not self._lines:
            if self._overrun:
                self._overrun = False
                raise ValueError("Separator is not found, and chunk exceed the limit")
            if self._eof:
                rest = bytes(self._buffer)
                self._buffer.clear()
                return rest, False
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        line, offered = self._lines.popleft()
        self._queued -= len(line)
        if self._paused and self._queued + len(self._buffer) <= _LINE_LIMIT and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return line, offered


class _Lines:
    """``async for line in ...`` over a pipe, as the SDK reads its stdin."""

    def __init__(self, reader: _LineReader, tap: LineTap | None) -> None:
        self._reader = reader
        self._tap = tap

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        while True:
            line, offered = await self._reader.readline()
            if not line:
                raise StopAsyncIteration
            text = line.decode("utf-8", "replace")
            if offered or self._tap is None or not self._tap.from_client(text):
                return text


class _Out:
    """``await write(text)`` / ``await flush()`` on a pipe, as the SDK writes its stdout (a ``Wire``)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))
        await self._writer.drain()

    def write_now(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    async def drain(self) -> None:
        await self._writer.drain()

    async def flush(self) -> None:
        return None


@contextlib.asynccontextmanager
async def fast_stdio_server(tap: LineTap | None = None) -> AsyncIterator[tuple[Any, Any]]:
    """The SDK's ``stdio_server`` streams, served by the event loop when stdin and stdout are pipes.

    With pipes, ``tap`` sees each line first (True: it took the line) and is given the writer the
    SDK's replies go through, so its own replies are whole lines on the same writer."""
    if not (is_pipe(0) and is_pipe(1)):
        async with stdio_server() as streams:
            yield streams
        return
    loop = asyncio.get_running_loop()
    wire_in, wire_out = os.dup(0), os.dup(1)
    saved = _divert()
    try:
        reader = _LineReader(tap)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: reader, os.fdopen(wire_in, "rb", buffering=0)
        )
        write_transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(wire_out, "wb", buffering=0)
        )
        writer = asyncio.StreamWriter(write_transport, protocol, None, loop)
        out = _Out(writer)
        if tap is not None:
            tap.attach(out)
        try:
            async with stdio_server(_Lines(reader, tap), out) as streams:  # type: ignore[arg-type]
                yield streams
        finally:
            read_transport.close()
            write_transport.close()
    finally:
        _restore(saved)


def _divert() -> tuple[int, int]:
    """Point fd 0 at the null device and fd 1 at stderr; returns the originals to restore."""
    saved = (os.dup(0), os.dup(1))
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
    finally:
        os.close(null)
    os.dup2(2, 1)
    return saved


def _restore(saved: tuple[int, int]) -> None:
    for fd, original in zip((0, 1), saved, strict=True):
        with contextlib.suppress(OSError):
            os.dup2(original, fd)
        with contextlib.suppress(OSError):
            os.close(original)
