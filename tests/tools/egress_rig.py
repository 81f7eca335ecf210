"""The egress proxy driven without Docker, for the egress tests: a real guard and policy decide each
connection, the proxy's Unix socket is spoken to directly, and the servers are on loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from agentguard import Guard, Settings
from agentguard.policy import PolicyEngine
from agentguard.settings import DEFAULT_POLICY_DIR
from agentguard.testing import FakeResolver, FakeSandbox, MemoryAudit, ScriptedApprover
from agentguard.tools.egress import EgressOwner, EgressProxy


@contextlib.contextmanager
def loopback_server(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A host service on loopback that hands each connection to ``handle``; yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            handle(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        server.close()
        thread.join(15)


@contextlib.contextmanager
def egress_proxy(
    tmp: Path, rules: str, resolver: FakeResolver, audit: MemoryAudit | None = None
) -> Iterator[Callable[[], socket.socket]]:
    """A proxy whose connections ``rules`` decide; yields a function opening a client connection."""
    with egress_endpoint(tmp, rules, resolver, audit) as (_endpoint, connect):
        yield connect


@contextlib.contextmanager
def egress_endpoint(
    tmp: Path, rules: str, resolver: FakeResolver, audit: MemoryAudit | None = None
) -> Iterator[tuple[Any, Callable[[], socket.socket]]]:
    """``egress_proxy``, with the container's endpoint as well."""
    policy = tmp / "policy"
    policy.mkdir()
    (policy / "model.conf").write_text((DEFAULT_POLICY_DIR / "model.conf").read_text())
    (policy / "policy.csv").write_text(rules)
    (tmp / "ws").mkdir()
    guard = Guard(
        PolicyEngine.load(policy, workspace=tmp / "ws", resolver=resolver),
        approver=ScriptedApprover(),
        audit=audit if audit is not None else MemoryAudit(),
        settings=Settings(home=tmp / "home", workspace=tmp / "ws"),
    )
    guard.register_builtins(sandbox=FakeSandbox())
    # A short directory of its own: a socket path has at most 107 bytes, and pytest's are long.
    runtime = tempfile.TemporaryDirectory(prefix="ag-egress-")
    proxy = EgressProxy(resolver=resolver, runtime_dir=Path(runtime.name))
    try:
        endpoint = proxy.open(uid=os.getuid())
        endpoint.attach(EgressOwner(guard=guard))

        def connect() -> socket.socket:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(10)
            s.connect(str(Path(endpoint.directory) / "proxy.sock"))
            return s

        yield endpoint, connect
    finally:
        proxy.close()
        guard.close()
        runtime.cleanup()


def exchange(
    tmp: Path,
    rules: str,
    request: bytes,
    resolver: FakeResolver,
    *,
    audit: MemoryAudit | None = None,
    half_close: bool = False,
) -> bytes:
    """Send ``request`` through a fresh proxy and read the answer to its end; ``half_close`` ends the
    client's sending after it (a tunnel ends once the server has read it)."""
    with egress_proxy(tmp, rules, resolver, audit) as connect, contextlib.closing(connect()) as s:
        s.sendall(request)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while data := s.recv(4096):
            out += data
        return out
