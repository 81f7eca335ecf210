"""Red-team round 2 on the egress proxy, without Docker: the proxy's Unix socket driven directly.

A real guard and policy decide; a real listener on loopback stands for a host service the sandbox
must not reach.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentguard.testing import FakeResolver
from tests.tools.egress_rig import exchange, loopback_server


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A host service on loopback; ``accepted`` lists every connection that reached it."""
    accepted: list[object] = []

    def handle(conn: socket.socket) -> None:
        accepted.append(conn)
        conn.close()

    with loopback_server(handle) as port:
        yield port, accepted


def _proxy_answer(tmp: Path, rules: str, request: bytes) -> bytes:
    resolver = FakeResolver({"loop.test": ["127.0.0.1"], "meta.test": ["169.254.169.254"]})
    return exchange(tmp, rules, request, resolver, half_close=True)


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


def _client_hello(sni: str | None) -> bytes:
    """A minimal TLS 1.2 ClientHello handshake message (no record header), with or without SNI."""
    ext = b""
    if sni is not None:
        name = sni.encode()
        entry = b"\x00" + struct.pack(">H", len(name)) + name
        data = struct.pack(">H", len(entry)) + entry
        ext = struct.pack(">HH", 0, len(data)) + data
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += struct.pack(">H", len(ext)) + ext
    return b"\x01" + len(body).to_bytes(3, "big") + body


def _record(payload: bytes) -> bytes:
    return b"\x16\x03\x01" + struct.pack(">H", len(payload)) + payload


@pytest.fixture
def recorder() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback server that keeps what each connection sent until it closed."""
    received: list[bytes] = []

    def handle(conn: socket.socket) -> None:
        conn.settimeout(10)
        data = b""
        with contextlib.suppress(OSError):
            while chunk := conn.recv(65536):
                data += chunk
        received.append(data)
        conn.close()

    with loopback_server(handle) as port:
        yield port, received


_LOOP_RULE = 'p, *, net.connect, ip(host, "127.0.0.1/32"), allow\n'


@pytest.mark.parametrize(
    ("tunnel", "why"),
    [
        (_record(_client_hello("evil.test")), "another name"),
        (_record(_client_hello("loop.test.evil")), "a longer name"),
        (lambda h: _record(h[:20]) + _record(h[20:]), "the ClientHello split across two records"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "an HTTP/2 preface"),
        (b"GET / HTTP/1.1\r\nHost: loop.test\r\n\r\n", "plain HTTP in a tunnel"),
    ],
)
def test_a_tunnel_that_does_not_carry_tls_for_the_decided_name_sends_nothing(
    tmp_path: Path, recorder: tuple[int, list[bytes]], tunnel: object, why: str
) -> None:
    port, received = recorder
    data = tunnel(_client_hello("loop.test")) if callable(tunnel) else tunnel
    assert isinstance(data, bytes)
    head = f"CONNECT loop.test:{port} HTTP/1.1\r\nHost: loop.test\r\n\r\n".encode()
    out = _proxy_answer(tmp_path, _LOOP_RULE, head + data)
    assert out.startswith(b"HTTP/1.1 200"), why
    assert all(r == b"" for r in received), why  # at most a TCP handshake: no byte reached the server


@pytest.mark.parametrize("sni", ["loop.test", "LOOP.TEST", "loop.test.", None])
def test_a_tunnel_for_the_decided_name_reaches_the_server(
    tmp_path: Path, recorder: tuple[int, list[bytes]], sni: str | None
) -> None:
    port, received = recorder
    hello = _record(_client_hello(sni))
    head = f"CONNECT loop.test:{port} HTTP/1.1\r\nHost: loop.test\r\n\r\n".encode()
    _proxy_answer(tmp_path, _LOOP_RULE, head + hello)
    assert received == [hello]
