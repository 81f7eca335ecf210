"""Inside a ``network = "policy"`` container: 127.0.0.1:PORT forwards to the host's egress proxy socket.

Runs in the sandbox image (standard library only) as ``python3 -I shim.py PORT SOCKET -- CMD ...``:
binds the port, forks the forwarder, and becomes CMD (the runner or an MCP server). The container
has no network interface but ``lo``; the mounted socket is its only way out, and every connection
through it is decided by the host. Killing this process only cuts the container's own way out.

Bytes are moved with ``splice(2)`` through a pipe (no copy into this process), two threads per
connection, so the forwarder costs little of the container's CPU quota.
"""

import contextlib
import errno
import os
import socket
import sys
import threading

_CHUNK = 1 << 20


def _copy(src: socket.socket, dst: socket.socket) -> None:
    while True:
        data = src.recv(_CHUNK)
        if not data:
            return
        dst.sendall(data)


def _splice(src: socket.socket, dst: socket.socket) -> None:
    read_end, write_end = os.pipe()
    try:
        while True:
            try:
                n = os.splice(src.fileno(), write_end, _CHUNK)
            except OSError as exc:
                if exc.errno == errno.EINVAL:  # a kernel without splice for these sockets
                    _copy(src, dst)
                    return
                raise
            if n == 0:
                return
            while n:
                n -= os.splice(read_end, dst.fileno(), n)
    finally:
        os.close(read_end)
        os.close(write_end)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        _splice(src, dst)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _connection(client: socket.socket, path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(path)
    except OSError:
        client.close()
        upstream.close()
        return
    up = threading.Thread(target=_pump, args=(client, upstream), daemon=True)
    up.start()
    _pump(upstream, client)
    up.join()
    client.close()
    upstream.close()


def _serve(listener: socket.socket, path: str) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except InterruptedError:
            continue
        try:
            threading.Thread(target=_connection, args=(client, path), daemon=True).start()
        except RuntimeError:  # the pids limit: refuse this one, keep serving
            client.close()


def _undumpable() -> None:
    """The code runs as this process's uid: not dumpable, it cannot ptrace this process and make it
    issue the syscalls the runner's seccomp filter denies the code (else: no way out at all)."""
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
        os._exit(1)


def main(argv: list[str]) -> None:
    port, path, sep, *command = argv
    if sep != "--" or not command:
        raise SystemExit("usage: shim.py PORT SOCKET -- CMD ...")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(port)))
    listener.listen(128)  # bound before CMD starts: no connection can come too early
    if os.fork() == 0:
        _undumpable()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)  # the container's stdio belongs to CMD alone
        with contextlib.suppress(KeyboardInterrupt):
            _serve(listener, path)
        os._exit(0)
    listener.close()
    os.execvp(command[0], command)  # noqa: S606 - the container command, as given


if __name__ == "__main__":
    main(sys.argv[1:])
