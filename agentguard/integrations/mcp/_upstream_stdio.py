"""The real server's stdio, as the SDK's ``stdio_client`` serves it, plus a raw lane for fast calls.

The SDK's transport parses every line the server writes into a pydantic message and hands it to
the ``ClientSession`` through a memory stream. The proxy's fast path (``_fast``) sends its
``tools/call`` requests as raw JSON-RPC lines under ids of its own and must see their responses
before the SDK does: ``tap`` is offered each line first and keeps the ones it owns. Everything
else is exactly the SDK's transport (the same process start, parse, and shutdown sequence, built
from the private helpers of ``mcp.client.stdio``; an SDK release that moves them fails the MCP
tests). Raw lines and the SDK's messages are written whole by one ``send`` each on the same pipe, so
they never interleave mid-line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TextIO

import anyio
import anyio.lowlevel
from anyio.streams.text import TextReceiveStream
from mcp.client import stdio as sdk
from mcp.client.stdio import StdioServerParameters
from mcp.shared.message import SessionMessage

__all__ = ["tapped_stdio_client"]


def _asyncio_writer(stdin: Any) -> asyncio.StreamWriter | None:
    """The asyncio writer under anyio's process stdin (None on another backend or anyio layout)."""
    writer = getattr(stdin, "_stream", None)
    return writer if isinstance(writer, asyncio.StreamWriter) else None


Tap = Callable[[str], bool]
SendLine = Callable[[str], Awaitable[None]]


@contextlib.asynccontextmanager
async def tapped_stdio_client(
    server: StdioServerParameters, errlog: TextIO, tap: Tap, closed: Callable[[], None]
) -> AsyncIterator[tuple[Any, Any, SendLine]]:
    """``(read, write, send_line)``: the SDK's streams, and a raw writer on the same pipe.

    ``tap(line)`` sees each line first (True: consumed); ``closed()`` runs once the server's
    output ends, so that calls waiting on the raw lane fail instead of hanging.
    """
    command = await sdk._get_executable_command(server.command)
    process = await sdk._create_platform_compatible_process(
        command=command,
        args=server.args,
        env=sdk.get_default_environment() | (server.env or {}),
        errlog=errlog,
        cwd=server.cwd,
    )
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
    shutting_down = False
    writer_done = anyio.Event()
    assert process.stdin is not None
    assert process.stdout is not None

    pipe = _asyncio_writer(process.stdin)

    async def send_line(line: str) -> None:
        assert process.stdin is not None
        data = line.encode(server.encoding, server.encoding_error_handler)
        if pipe is None:
            await process.stdin.send(data)
            return
        # anyio's ``send`` without its closing checkpoint (a whole extra event-loop turn per request,
        # yielded after the line is already written): the same cancellation check first, the same
        # write and drain, errors mapped as anyio maps them.
        await anyio.lowlevel.checkpoint_if_cancelled()
        try:
            pipe.write(data)
            await pipe.drain()
        except (ConnectionResetError, BrokenPipeError, RuntimeError) as exc:
            if getattr(process.stdin, "_closed", False):
                raise anyio.ClosedResourceError from exc
            if pipe.is_closing():
                raise anyio.BrokenResourceError from exc
            raise

    async def stdout_reader() -> None:
        assert process.stdout is not None
        stdout = TextReceiveStream(
            process.stdout, encoding=server.encoding, errors=server.encoding_error_handler
        )
        try:
            async with read_writer:
                try:
                    buffer = ""
                    async for chunk in stdout:
                        lines = (buffer + chunk).split("\n")
                        buffer = lines.pop()
                        for line in lines:
                            if tap(line):
                                continue
                            try:
                                await read_writer.send(sdk._parse_line(line))
                            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                                return
                finally:
                    closed()
                    await sdk._drain_stdout(process)
        except anyio.ClosedResourceError:
            pass
        except (anyio.BrokenResourceError, ConnectionError):
            if not shutting_down:
                sdk.logger.exception("Reading from the MCP server's stdout failed mid-session")

    async def stdin_writer() -> None:
        assert process.stdin is not None
        try:
            async with write_reader:
                async for message in write_reader:
                    text = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await send_line(text + "\n")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            await read_writer.aclose()
        finally:
            writer_done.set()

    async def shutdown() -> None:
        read_stream.close()
        write_stream.close()
        with anyio.move_on_after(sdk._WRITER_FLUSH_TIMEOUT):
            await writer_done.wait()
        await sdk._stop_server_process(process)
        await sdk._aclose_all(read_stream, write_stream, read_writer, write_reader)
        await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stdout_reader)
        tg.start_soon(stdin_writer)
        try:
            yield read_stream, write_stream, send_line
        finally:
            shutting_down = True
            closed()
            with anyio.CancelScope(shield=True):
                await shutdown()
            tg.cancel_scope.cancel()
    await anyio.lowlevel.cancel_shielded_checkpoint()
