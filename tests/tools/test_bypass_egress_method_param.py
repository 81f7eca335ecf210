"""Red team: a ``_method`` parameter made the server run another method than the one decided.

Symfony and Laravel (``_method`` in the query or the form body of a POST), Rails and Rack
(``Rack::MethodOverride``: the form body), Express's ``method-override('_method')`` (the query)
run ``POST /items/1?_method=DELETE`` as ``DELETE /items/1``. The egress proxy decided it as a
POST, so a rule on ``DELETE`` did not see it. PHP also reads ``.method``, ``[method``, `` _method``
and ``_method<NUL>x`` as ``_method`` (it rewrites those characters in parameter names, drops leading
spaces and ends a name at a NUL). A query parameter naming another method is now refused before
any decision. The form body is sent after the
decision, so its ``_method`` is still not seen: a strict xfail documents it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.testing import MemoryAudit
from tests.tools.test_bypass_egress_method import ALLOW, _through_proxy, server  # noqa: F401

RULES = ALLOW + 'p, *, net.connect, oneof(method, "DELETE", "PUT", "PATCH"), deny\n'
REFUSED = (b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 403 Forbidden")


@pytest.mark.parametrize(
    "query",
    [
        "_method=DELETE",
        "x=1&_method=delete",
        "%5Fmethod=DELETE",
        "_%6Dethod=DELETE",
        ".method=DELETE",
        "[method=PUT",
        "_method=POST&_method=DELETE",  # PHP reads the last
        "+_method=DELETE",  # PHP drops leading spaces of a parameter's name
        "%20%20_method=DELETE",
        "_method%00x=DELETE",  # and ends the name at a NUL
    ],
)
def test_a_method_parameter_in_the_query_is_refused(
    tmp_path: Path,
    server: tuple[int, list[bytes]],  # noqa: F811
    query: str,
) -> None:
    port, heads = server
    head = f"POST http://127.0.0.1:{port}/items/1?{query} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    out = _through_proxy(tmp_path, RULES, head.encode(), MemoryAudit())
    assert out.split(b"\r\n")[0] in REFUSED, out
    assert heads == []


@pytest.mark.parametrize("query", ["_method=POST", "method=DELETE", "x_method=DELETE"])
def test_other_parameters_still_go_through(
    tmp_path: Path,
    server: tuple[int, list[bytes]],  # noqa: F811
    query: str,
) -> None:
    port, heads = server
    head = f"POST http://127.0.0.1:{port}/items/1?{query} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    out = _through_proxy(tmp_path, RULES, head.encode(), MemoryAudit())
    assert out.startswith(b"HTTP/1.1 200"), out
    assert len(heads) == 1


@pytest.mark.xfail(
    strict=True,
    reason="the request body is forwarded after the decision, unread: a form body's _method "
    "(Rails, Laravel, Symfony) is not seen",
)
def test_a_method_parameter_in_a_form_body_is_refused(
    tmp_path: Path,
    server: tuple[int, list[bytes]],  # noqa: F811
) -> None:
    port, heads = server
    body = "_method=DELETE"
    head = (
        f"POST http://127.0.0.1:{port}/items/1 HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    )
    out = _through_proxy(tmp_path, RULES, head.encode(), MemoryAudit())
    assert out.split(b"\r\n")[0] in REFUSED, out
    assert heads == []
