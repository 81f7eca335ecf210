"""The proxy's stdio transport: pipes served by the event loop, stray prints kept off the wire."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from agentguard.integrations.mcp._stdio import is_pipe

REPO = Path(__file__).resolve().parents[2]

# A server on fast_stdio_server whose tool prints to stdout, as a careless library might.
SERVER = textwrap.dedent(
    """
    import sys
    import anyio
    from mcp.server.mcpserver import MCPServer
    from agentguard.integrations.mcp._stdio import fast_stdio_server, is_pipe

    server = MCPServer("echo", version="1.0")

    @server.tool(description="Echo the text back.")
    def echo(text: str) -> str:
        print("stray output from the tool", flush=True)
        return text

    async def main():
        print(f"pipes: {is_pipe(0)} {is_pipe(1)}", file=sys.stderr, flush=True)
        async with fast_stdio_server() as (read, write):
            lowlevel = server._lowlevel_server
            await lowlevel.run(read, write, lowlevel.create_initialization_options())

    anyio.run(main)
    """
)


def test_is_pipe_tells_pipes_from_files(tmp_path: Path) -> None:
    read, write = os.pipe()
    try:
        assert is_pipe(read)
        assert is_pipe(write)
    finally:
        os.close(read)
        os.close(write)
    with (tmp_path / "f").open("w") as f:
        assert not is_pipe(f.fileno())


def test_served_over_pipes_and_stray_prints_go_to_stderr(tmp_path: Path) -> None:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    script = tmp_path / "server.py"
    script.write_text(SERVER)
    errlog = tmp_path / "stderr.log"
    params = StdioServerParameters(
        command=sys.executable, args=[str(script)], env={**os.environ, "PYTHONPATH": str(REPO)}
    )

    async def run() -> list[str]:
        texts = []
        with errlog.open("w") as err:
            async with stdio_client(params, errlog=err) as (r, w), ClientSession(r, w) as client:
                with anyio.fail_after(60):
                    await client.initialize()
                    for i in range(20):
                        result = await client.call_tool("echo", {"text": f"hello {i}" * (i * 500 + 1)})
                        assert not result.is_error
                        texts.append(result.content[0].text)  # type: ignore[union-attr]
        return texts

    texts = anyio.run(run)
    assert texts == [f"hello {i}" * (i * 500 + 1) for i in range(20)]  # up to ~80 KB, past a pipe's buffer
    log = errlog.read_text()
    assert "pipes: True True" in log
    assert log.count("stray output from the tool") == 20


class _Tap:
    """Takes the lines that say "fast"; remembers every line it was offered, in order."""

    def __init__(self) -> None:
        self.offered: list[str] = []

    def attach(self, wire: object) -> None:
        return None

    def from_client(self, line: str) -> bool:
        self.offered.append(line.strip())
        return line.startswith("fast")


async def test_lines_reach_the_tap_and_the_sdk_in_the_order_they_came() -> None:
    """A line is offered to the tap in the pipe's callback only while the SDK's reader waits with
    nothing queued; after a queued line, in the reader's turn: either way, in arrival order."""
    from agentguard.integrations.mcp._stdio import _LineReader, _Lines

    tap = _Tap()
    reader = _LineReader(tap)
    lines = _Lines(reader, tap)
    reader.data_received(b"sdk1\nfast1\n")  # nobody waits yet: both queued
    assert tap.offered == []
    assert await lines.__anext__() == "sdk1\n"
    got: list[str] = []

    async def next_line() -> None:
        got.append(await lines.__anext__())

    async with anyio.create_task_group() as tg:
        tg.start_soon(next_line)  # takes fast1 (the tap's), then waits
        await anyio.wait_all_tasks_blocked()
        assert tap.offered == ["sdk1", "fast1"]
        reader.data_received(b"fast2\nsdk2\nfast3\nfa")  # fast2 taken, sdk2 declined: queued
        assert tap.offered == ["sdk1", "fast1", "fast2", "sdk2"]
        reader.data_received(b"st4\n")  # behind sdk2, not yet read: waits its turn
        assert tap.offered == ["sdk1", "fast1", "fast2", "sdk2"]
    assert got == ["sdk2\n"]  # not offered to the tap twice
    reader.data_received(b"tail")
    reader.eof_received()
    assert await lines.__anext__() == "tail"  # fast3 and fast4 taken on the way, in their order
    assert tap.offered == ["sdk1", "fast1", "fast2", "sdk2", "fast3", "fast4", "tail"]
    with pytest.raises(StopAsyncIteration):
        await lines.__anext__()


class _CountingBuffer(bytearray):
    """A line buffer that counts the bytes its newline searches go over."""

    searched = 0

    def find(self, sub: Any, start: Any = 0, *args: Any) -> int:
        _CountingBuffer.searched += len(self) - start
        return super().find(sub, start, *args)


def test_a_long_line_in_many_chunks_is_searched_once() -> None:
    """A line arriving in many reads (a pipe gives 64 KiB at a time) is searched for its newline
    once per byte, as a StreamReader does: searching the whole buffer again on each read blocked
    the event loop for seconds on a line of tens of MiB (every call and answer waits on it)."""
    from agentguard.integrations.mcp._stdio import _LineReader

    reader = _LineReader(None)
    reader._buffer = _CountingBuffer()
    _CountingBuffer.searched = 0
    chunk, reads = b"x" * 1024, 1000
    for _ in range(reads):
        reader.data_received(chunk)
    reader.data_received(b"\nnext\n")
    assert [line for line, _ in reader._lines] == [chunk * reads + b"\n", b"next\n"]
    assert _CountingBuffer.searched <= 2 * (len(chunk) * reads + 6)


class _RaisingTap(_Tap):
    """A tap that fails on the lines that say "boom"."""

    def from_client(self, line: str) -> bool:
        taken = super().from_client(line)
        if line.startswith("boom"):
            raise ValueError("the tap failed")
        return taken


async def test_a_tap_that_raises_in_the_pipe_callback_loses_and_repeats_no_line() -> None:
    """An error of the tap inside the pipe's callback must not leave the lines already taken in the
    buffer (the next read would hand them on again: a call run twice) nor skip the lines behind it:
    the failing line is offered again in the reader's turn, where its error reaches the SDK's reader
    as it did before lines were offered in the callback."""
    from agentguard.integrations.mcp._stdio import _LineReader, _Lines

    tap = _RaisingTap()
    reader = _LineReader(tap)
    lines = _Lines(reader, tap)
    failed: list[BaseException] = []

    async def next_line() -> None:
        try:
            await lines.__anext__()
        except ValueError as exc:
            failed.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(next_line)
        await anyio.wait_all_tasks_blocked()
        reader.data_received(b"fast1\nboom\nsdk1\n")  # must not raise into the event loop
        reader.data_received(b"sdk2\n")
    assert [str(exc) for exc in failed] == ["the tap failed"]  # in the reader's turn, as before
    assert await lines.__anext__() == "sdk1\n"
    assert await lines.__anext__() == "sdk2\n"
    assert tap.offered == ["fast1", "boom", "boom", "sdk1", "sdk2"]
