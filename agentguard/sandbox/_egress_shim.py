"""Inside a ``network = "policy"`` container: 127.0.0.1:PORT forwards to the host's egress proxy socket.

Runs in the sandbox image (standard library only) as ``python3 -I shim.py PORT SOCKET -- CMD ...``:
binds the port, forks the forwarder, and becomes CMD (the runner or an MCP server). The container
has no network interface but ``lo``; the mounted socket is its only way out, and every connection
through it is decided by the host. Killing this process only cuts the container's own way out.
"""

import asyncio
import contextlib
import os
import socket
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(1 << 20)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def _serve(listener: socket.socket, path: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(path, limit=1 << 20)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        for w in (writer, up_writer):
            w.close()

    server = await asyncio.start_server(handle, sock=listener, limit=1 << 20)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    port, path, sep, *command = argv
    if sep != "--" or not command:
        raise SystemExit("usage: shim.py PORT SOCKET -- CMD ...")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(port)))
    listener.listen(128)  # bound before CMD starts: no connection can come too early
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)  # the container's stdio belongs to CMD alone
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(listener, path))
        os._exit(0)
    listener.close()
    os.execvp(command[0], command)  # noqa: S606 - the container command, as given


if __name__ == "__main__":
    main(sys.argv[1:])
