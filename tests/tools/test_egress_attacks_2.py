"""Red-team round 2 on the egress proxy, without Docker: the proxy's Unix socket driven directly.

A real guard and policy decide; a real listener on loopback stands for a host service the sandbox
must not reach.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentguard import Guard, Settings
from agentguard.policy import PolicyEngine
from agentguard.settings import DEFAULT_POLICY_DIR
from agentguard.testing import FakeResolver, FakeSandbox, MemoryAudit, ScriptedApprover
from agentguard.tools.egress import EgressOwner, EgressProxy


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A host service on loopback; ``accepted`` lists every connection that reached it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[object] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    server.close()
    thread.join(5)


def _proxy_answer(tmp: Path, rules: str, request: bytes) -> bytes:
    policy = tmp / "policy"
    policy.mkdir()
    (policy / "model.conf").write_text((DEFAULT_POLICY_DIR / "model.conf").read_text())
    (policy / "policy.csv").write_text(rules)
    (tmp / "ws").mkdir()
    resolver = FakeResolver({"loop.test": ["127.0.0.1"], "meta.test": ["169.254.169.254"]})
    engine = PolicyEngine.load(policy, workspace=tmp / "ws", resolver=resolver)
    guard = Guard(
        engine,
        approver=ScriptedApprover(),
        audit=MemoryAudit(),
        settings=Settings(home=tmp / "home", workspace=tmp / "ws"),
    )
    guard.register_builtins(sandbox=FakeSandbox())
    proxy = EgressProxy(resolver=resolver, runtime_dir=tmp)
    try:
        endpoint = proxy.open(uid=os.getuid())
        endpoint.attach(EgressOwner(guard=guard))
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(str(Path(endpoint.directory) / "proxy.sock"))
        s.sendall(request)
        out = b""
        while True:
            data = s.recv(4096)
            if not data:
                break
            out += data
        s.close()
        return out
    finally:
        proxy.close()
        guard.close()


@pytest.mark.parametrize(
    "cond",
    [
        # "everything but the corporate range": the rule looks at addresses, but never at loopback's
        '!ip(host, "10.0.0.0/8")',
        '!ip(host, "metadata")',
        # ip() only on one side of an ||
        'ip(host, "10.0.0.0/8") || url(url, "*://*:*")',
    ],
)
@pytest.mark.parametrize("target", ["loop.test", "127.0.0.1"])
def test_an_ip_rule_that_does_not_name_loopback_does_not_open_it(
    tmp_path: Path, listener: tuple[int, list[object]], cond: str, target: str
) -> None:
    port, accepted = listener
    head = f"GET http://{target}:{port}/ HTTP/1.1\r\nHost: {target}:{port}\r\n\r\n".encode()
    out = _proxy_answer(tmp_path, f"p, *, net.connect, {cond}, allow\n", head)
    assert out.startswith(b"HTTP/1.1 502"), out
    assert b"internal address" in out
    assert accepted == []


def test_a_rule_naming_loopback_in_ip_still_opens_it(
    tmp_path: Path, listener: tuple[int, list[object]]
) -> None:
    port, accepted = listener
    head = f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    out = _proxy_answer(tmp_path, 'p, *, net.connect, ip(host, "127.0.0.1/32"), allow\n', head)
    # the listener closes at once: the proxy reached it (and reports the early end), which is the point
    assert len(accepted) == 1, out


def test_a_request_framed_two_ways_is_refused_before_any_decision(
    tmp_path: Path, listener: tuple[int, list[object]]
) -> None:
    # Content-Length and Transfer-Encoding together: the proxy reads one body, a server that prefers
    # Content-Length reads another, and the rest becomes a second request nobody decided (RFC 9112 6.1).
    port, accepted = listener
    head = (
        f"POST http://127.0.0.1:{port}/public HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
        "25\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n\r\n\r\n0\r\n\r\n"
    ).encode()
    out = _proxy_answer(tmp_path, 'p, *, net.connect, ip(host, "127.0.0.1/32"), allow\n', head)
    assert out.startswith(b"HTTP/1.1 400"), out
    assert accepted == []


@pytest.mark.parametrize(
    "form",
    [
        "2130706433",
        "0x7f.1",
        "0177.0.0.1",
        "127.1",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[0:0:0:0:0:ffff:127.0.0.1]",
        "0.0.0.0",
        "[::]",
        "[::1]",
        "LOOP.TEST",
        "loop.test.",
    ],
)
@pytest.mark.parametrize("method", ["CONNECT", "GET"])
def test_loopback_in_any_spelling_is_refused_by_an_allow_all_rule(
    tmp_path: Path, listener: tuple[int, list[object]], form: str, method: str
) -> None:
    port, accepted = listener
    if method == "CONNECT":
        head = f"CONNECT {form}:{port} HTTP/1.1\r\nHost: {form}:{port}\r\n\r\n".encode()
    else:
        head = f"GET http://{form}:{port}/ HTTP/1.1\r\nHost: {form}:{port}\r\n\r\n".encode()
    out = _proxy_answer(tmp_path, "p, *, net.connect, *, allow\n", head)
    assert out.split(b"\r\n")[0] in (b"HTTP/1.1 502 Bad Gateway", b"HTTP/1.1 400 Bad Request"), out
    assert accepted == []


def test_an_ip_rule_after_another_allow_still_opens_its_range(
    tmp_path: Path, listener: tuple[int, list[object]]
) -> None:
    # Two allow rules match; the first (on the name) is the one the decision names. The second names
    # the address itself, so the connection is allowed: the check looks at every matched allow.
    port, accepted = listener
    rules = (
        'p, *, net.connect, url(url, "http://*:*"), allow\n'
        'p, *, net.connect, ip(host, "127.0.0.0/8"), allow\n'
    )
    head = f"GET http://loop.test:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    _proxy_answer(tmp_path, rules, head)
    assert len(accepted) == 1
