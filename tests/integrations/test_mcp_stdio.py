"""The proxy's stdio transport: pipes served by the event loop, stray prints kept off the wire."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

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
