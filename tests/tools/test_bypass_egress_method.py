"""Red team: a plain HTTP request through the egress proxy was decided without its method.

``net.connect`` carried host, port, scheme and URL, so a ``DELETE`` (or ``POST`` with a body) was
decided, approved and audited exactly like a ``GET`` of the same URL: no rule could tell them apart
and an approver asked about "the URL" could not see what would be done to it. The method is now an
argument of the call (``CONNECT`` for a tunnel), and a decided method is the one sent. Headers that
some servers route on instead of the request line (``X-Original-URL``, ``X-HTTP-Method-Override``)
replaced the decided path or method; they are dropped.
Without Docker: the proxy's Unix socket driven directly; a real guard and policy decide; a real
listener on loopback stands for the server.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentguard.testing import FakeResolver, MemoryAudit
from tests.tools.egress_rig import exchange, loopback_server

ALLOW = 'p, *, net.connect, ip(host, "127.0.0.1/32"), allow\n'


@pytest.fixture
def server() -> Iterator[tuple[int, list[bytes]]]:
    """A server on loopback answering 200 to anything; ``heads`` holds each request head it read."""
    heads: list[bytes] = []

    def handle(conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            heads.append(data.split(b"\r\n\r\n", 1)[0])
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    with loopback_server(handle) as port:
        yield port, heads


def _through_proxy(tmp: Path, rules: str, request: bytes, audit: MemoryAudit) -> bytes:
    return exchange(tmp, rules, request, FakeResolver({}), audit=audit)


def _decided(audit: MemoryAudit) -> list[dict[str, object]]:
    return [r["arguments"] for r in audit.records if r["event"] == "call.received"]


def test_a_rule_on_the_method_stops_a_delete(tmp_path: Path, server: tuple[int, list[bytes]]) -> None:
    port, heads = server
    rules = ALLOW + 'p, *, net.connect, oneof(method, "DELETE", "PUT", "POST", "PATCH"), deny\n'
    audit = MemoryAudit()
    head = f"DELETE http://127.0.0.1:{port}/items/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    out = _through_proxy(tmp_path, rules, head.encode(), audit)
    assert out.startswith(b"HTTP/1.1 403"), out
    assert heads == []  # the server never saw the request
    assert _decided(audit)[0]["method"] == "DELETE"  # decided and audited as what it is


def test_a_get_is_decided_as_a_get_and_sent_as_one(tmp_path: Path, server: tuple[int, list[bytes]]) -> None:
    port, heads = server
    rules = ALLOW + 'p, *, net.connect, !oneof(method, "GET", "HEAD"), deny\n'
    audit = MemoryAudit()
    head = f"GET http://127.0.0.1:{port}/items/1 HTTP/1.1\r\nHost: x\r\n\r\n"
    out = _through_proxy(tmp_path, rules, head.encode(), audit)
    assert out.startswith(b"HTTP/1.1 200"), out
    assert heads[0].startswith(b"GET /items/1 HTTP/1.1")
    assert _decided(audit)[0]["method"] == "GET"


@pytest.mark.parametrize(
    "header",
    [
        "X-Original-URL: /admin/users",  # IIS URL Rewrite, Symfony: the path the app routes on
        "X-Rewrite-URL: /admin/users",
        "X-HTTP-Method-Override: DELETE",  # Google APIs, method-override middleware
        "X-HTTP-Method: DELETE",
        "X-Method-Override: DELETE",
    ],
)
def test_headers_that_replace_the_decided_path_or_method_are_not_forwarded(
    tmp_path: Path, server: tuple[int, list[bytes]], header: str
) -> None:
    port, heads = server
    rules = ALLOW + 'p, *, net.connect, url(url, "http://*:*/admin/**"), deny\n'
    head = f"GET http://127.0.0.1:{port}/public HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n"
    out = _through_proxy(tmp_path, rules, head.encode(), MemoryAudit())
    assert out.startswith(b"HTTP/1.1 200"), out
    name = header.split(":", 1)[0].lower().encode()
    assert heads[0].startswith(b"GET /public HTTP/1.1")
    assert name not in heads[0].lower(), heads[0]
