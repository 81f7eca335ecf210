"""A bare stdio line relay: what any process between an MCP client and its server costs by itself.

It copies lines both ways with asyncio and reads nothing, so ``mcp`` in ``python -m benchmarks``
can show how much of the proxy's added latency is the extra process hop and how much is the guard.
Usage: ``python benchmarks/mcp_relay.py SERVER-COMMAND...``.
"""

from __future__ import annotations

import asyncio
import sys


async def _copy(
    reader: asyncio.StreamReader, write: asyncio.StreamWriter | asyncio.subprocess.Process
) -> None:
    while line := await reader.readline():
        if isinstance(write, asyncio.StreamWriter):
            write.write(line)
            await write.drain()
        else:
            assert write.stdin is not None
            write.stdin.write(line)
            await write.stdin.drain()
    if isinstance(write, asyncio.subprocess.Process) and write.stdin is not None:
        write.stdin.close()


async def main(command: list[str]) -> None:
    server = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    loop = asyncio.get_running_loop()
    client_in = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(client_in), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout)
    client_out = asyncio.StreamWriter(transport, protocol, None, loop)
    assert server.stdout is not None
    await asyncio.gather(_copy(client_in, server), _copy(server.stdout, client_out))
    await server.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
