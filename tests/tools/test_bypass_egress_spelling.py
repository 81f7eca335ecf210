"""Red team: a request head spelled so the proxy's checks did not recognise what the server reads.

* Header names with ``_`` for ``-``: CGI and WSGI servers (wsgiref, and every server that builds
  ``HTTP_*`` environ keys the CGI way) read ``X_HTTP_Method_Override`` as
  ``HTTP_X_HTTP_METHOD_OVERRIDE``, the same key as ``X-HTTP-Method-Override``; the proxy's family
  check compared the name as written and forwarded it. Client-address headers outside the named
  list (``X-Originating-IP``, ``X-Remote-Addr``, ``CF-Connecting-IP``) went through as well, and
  so did ``Proxy`` (CGI's ``HTTP_PROXY``: the server's own outbound proxy, "httpoxy") and
  ``Content_Length`` / ``Transfer_Encoding`` (read as the framing headers the proxy sets).
* A method in lower case: ``delete`` is decided as ``delete`` (a rule ``oneof(method, "DELETE")``
  does not match it) and Werkzeug/Flask routing and Django's views read it as ``DELETE``.

Without Docker: the proxy's Unix socket driven directly, a real guard and policy, a loopback server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.testing import MemoryAudit
from agentguard.tools._egress_headers import routes_elsewhere
from tests.tools.test_bypass_egress_method import ALLOW, _through_proxy, server  # noqa: F401

ROUTING = [
    "X_Original_URL: /admin/users",
    "X_HTTP_Method_Override: DELETE",
    "x_forwarded_host: admin.internal",
    "X-Forwarded_For: 127.0.0.1",
    "X_Real_IP: 127.0.0.1",
    "X-Originating-IP: 127.0.0.1",
    "X-Remote-Addr: 127.0.0.1",
    "X-Remote-IP: 127.0.0.1",
    "CF-Connecting-IP: 127.0.0.1",
    "X-Custom-IP-Authorization: 127.0.0.1",
    "Proxy: http://127.0.0.1:9",  # httpoxy: HTTP_PROXY for the server's own outbound requests
    "Content_Length: 99",  # HTTP_CONTENT_LENGTH, the framing the proxy set
    "Transfer_Encoding: chunked",
    "Proxy_Authorization: Basic dXNlcjpwYXNz",
]


def _cgi(name: bytes) -> bytes:
    return name.upper().replace(b"-", b"_")


@pytest.mark.parametrize("header", ROUTING)
def test_a_routing_header_in_any_spelling_is_not_forwarded(
    tmp_path: Path,
    server: tuple[int, list[bytes]],  # noqa: F811
    header: str,
) -> None:
    port, heads = server
    head = f"GET http://127.0.0.1:{port}/public HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n"
    out = _through_proxy(tmp_path, ALLOW, head.encode(), MemoryAudit())
    assert out.startswith(b"HTTP/1.1 200"), out
    assert heads[0].startswith(b"GET /public HTTP/1.1")
    name = _cgi(header.split(":", 1)[0].encode())
    sent = [_cgi(line.split(b":", 1)[0]) for line in heads[0].split(b"\r\n")[1:]]
    assert name not in sent, heads[0]


@pytest.mark.parametrize("name", [b"X-Api-Key", b"X_Api_Key", b"X-Request-Id", b"Accept", b"X-Tip-Amount"])
def test_an_apis_own_headers_are_not_taken_for_routing(name: bytes) -> None:
    assert not routes_elsewhere(name)


@pytest.mark.parametrize("method", ["delete", "Delete", "dElEtE"])
def test_a_method_in_another_case_is_not_sent_past_a_rule_on_the_method(
    tmp_path: Path,
    server: tuple[int, list[bytes]],  # noqa: F811
    method: str,
) -> None:
    port, heads = server
    rules = ALLOW + 'p, *, net.connect, oneof(method, "DELETE", "PUT", "POST", "PATCH"), deny\n'
    head = f"{method} http://127.0.0.1:{port}/items/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    out = _through_proxy(tmp_path, rules, head.encode(), MemoryAudit())
    assert out.split(b"\r\n")[0] in (b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 403 Forbidden"), out
    assert heads == []
