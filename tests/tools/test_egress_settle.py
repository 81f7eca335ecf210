"""A run's connections are recorded before its call finishes: the sandbox waits (bounded) for the
egress proxy's handlers of a container to end (``settle``) before the code's call records its
``execution.finished``. Before, a relay still closing under load recorded its ``net.connect``
after the parent call had finished (tests/sandbox/test_egress.py saw it), or never, if the process
exited first."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

from agentguard.testing import FakeResolver, MemoryAudit
from tests.tools.egress_rig import egress_endpoint, loopback_server

ALLOW = 'p, *, net.connect, ip(host, "127.0.0.1/32"), allow\n'


def test_settle_waits_for_the_connections_being_handled(tmp_path: Path) -> None:
    received, release = threading.Event(), threading.Event()

    def handle(conn: socket.socket) -> None:  # the server holds the answer until released
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            received.set()
            release.wait(30)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    audit = MemoryAudit()
    with (
        loopback_server(handle) as port,
        egress_endpoint(tmp_path, ALLOW, FakeResolver({}), audit) as (endpoint, connect),
    ):
        assert endpoint.settle(0.0)  # nothing open
        with contextlib.closing(connect()) as client:
            client.sendall(f"GET http://127.0.0.1:{port}/x HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert received.wait(30)  # the proxy is relaying: its handler is running
            assert not endpoint.settle(0.2)
            assert "execution.finished" not in audit.events
            release.set()
            out = b""
            while data := client.recv(4096):
                out += data
        assert out.endswith(b"ok"), out
        assert endpoint.settle(10.0)
        assert audit.events.count("execution.finished") == 1  # recorded by the time settle returns
