"""Red team: forwarding headers went through the egress proxy and could route a request elsewhere.

After the path and method overrides were dropped (ce5b2c2), a plain request still carried the
headers proxies and load balancers use to say which host, scheme, path or client a request is
really for: ``X-Forwarded-Host: admin.internal`` or ``Forwarded: host=...`` make many frameworks
(Django with USE_X_FORWARDED_HOST, Express with trust proxy, Spring, Traefik) route or authorise
the request for another virtual host than the decided URL, and ``X-Forwarded-For: 127.0.0.1`` is
taken as a trusted local client by some. The proxy now drops these by family (any
``X-Forwarded-*``, ``X-Original-*``, ``X-HTTP-*``, ``Forwarded``, ``Via``, client-address
headers), not by a list of known names; an API's own headers still go through. Without Docker;
a real listener on loopback stands for the server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.testing import MemoryAudit
from agentguard.tools._egress_headers import routes_elsewhere
from tests.tools.test_bypass_egress_method import ALLOW, _through_proxy, server  # noqa: F401

ROUTING = [
    "X-Forwarded-Host: admin.internal",
    "X-Forwarded-For: 127.0.0.1",
    "X-Forwarded-Proto: https",
    "X-Forwarded-Prefix: /admin",  # Spring: a path prefix no list of host headers names
    "X-Forwarded-Server: admin.internal",
    "Forwarded: for=127.0.0.1;host=admin.internal;proto=https",
    "X-Host: admin.internal",
    "X-HTTP-Host-Override: admin.internal",
    "X-Original-Host: admin.internal",
    "X-Real-IP: 127.0.0.1",
    "True-Client-IP: 127.0.0.1",
    "Via: 1.1 trusted-gateway",
    "x-fOrWaRdEd-hOsT: admin.internal",
]
KEPT = ["Authorization: Bearer t", "X-Api-Key: k", "Accept: application/json", "X-Request-Id: 1"]


@pytest.mark.parametrize("header", ROUTING)
def test_headers_that_route_elsewhere_are_not_forwarded(
    tmp_path: Path,
    server: tuple[int, list[bytes]],  # noqa: F811
    header: str,
) -> None:
    port, heads = server
    head = f"GET http://127.0.0.1:{port}/public HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n"
    out = _through_proxy(tmp_path, ALLOW, head.encode(), MemoryAudit())
    assert out.startswith(b"HTTP/1.1 200"), out
    name = header.split(":", 1)[0].lower().encode()
    assert heads[0].startswith(b"GET /public HTTP/1.1")
    assert name not in heads[0].lower(), heads[0]
    assert b"admin.internal" not in heads[0]


def test_an_apis_own_headers_still_go_through(
    tmp_path: Path,
    server: tuple[int, list[bytes]],  # noqa: F811
) -> None:
    port, heads = server
    extra = "".join(f"{h}\r\n" for h in KEPT)
    head = f"GET http://127.0.0.1:{port}/public HTTP/1.1\r\nHost: x\r\n{extra}\r\n"
    out = _through_proxy(tmp_path, ALLOW, head.encode(), MemoryAudit())
    assert out.startswith(b"HTTP/1.1 200"), out
    for header in KEPT:
        assert header.lower().encode() in heads[0].lower(), header
    assert not any(routes_elsewhere(h.split(":")[0].encode()) for h in KEPT)
