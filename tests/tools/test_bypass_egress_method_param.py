"""Red team: a ``_method`` parameter made the server run another method than the one decided.

Symfony and Laravel (``_method`` in the query or the form body of a POST), Rails and Rack
(``Rack::MethodOverride``: the form body), Express's ``method-override('_method')`` (the query)
run ``POST /items/1?_method=DELETE`` as ``DELETE /items/1``. The egress proxy decided it as a
POST, so a rule on ``DELETE`` did not see it. PHP also reads ``.method``, ``[method``, `` _method``
and ``_method<NUL>x`` as ``_method`` (it rewrites those characters in parameter names, drops leading
spaces and ends a name at a NUL). A query parameter naming another method is now refused before
any decision, and so is a body that carries one, read before the decision: a form body
(urlencoded or multipart, whatever the ``Content-Type`` says or if it says nothing: Rack reads a
POST without one as a form), a JSON body's top-level ``_method`` (Laravel reads JSON input), a body
in another declared charset (UTF-7, UTF-16), and a compressed body (which an input filter could
inflate) is refused.
"""

from __future__ import annotations

import gzip
import socket
from pathlib import Path

import pytest

from agentguard.testing import FakeResolver, MemoryAudit
from agentguard.tools._egress_override import BODY_LIMIT
from tests.tools.egress_rig import egress_proxy, loopback_server
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
        "x=1;_method=DELETE",  # Rack 2 and PHP's arg_separator.input may split on ;
        "_method[]=DELETE",  # PHP's array spelling
        "_METHOD=DELETE",
        "_method=%20DELETE%20",
        "_method=",  # names no method the request has: refused, not guessed
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


def _post(port: int, body: bytes, *headers: str) -> bytes:
    lines = "".join(f"{h}\r\n" for h in headers)
    head = f"POST http://127.0.0.1:{port}/items/1 HTTP/1.1\r\nHost: x\r\n{lines}"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


FORM = "Content-Type: application/x-www-form-urlencoded"
MULTIPART = "Content-Type: multipart/form-data; boundary=xyz"


def _multipart(
    name: str, value: str, boundary: str = "xyz", disposition: str = "Content-Disposition"
) -> bytes:
    return (
        f'--{boundary}\r\n{disposition}: form-data; name="title"\r\n\r\nhello\r\n'
        f"--{boundary}\r\n{disposition}: form-data; {name}\r\n\r\n{value}\r\n--{boundary}--\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"_method=DELETE", (FORM,)),
        (b"title=x&_method=delete", (FORM,)),
        (b"_method=POST&_method=DELETE", (FORM,)),  # repeated keys: the last (PHP) or the first
        (b"_method=DELETE&_method=POST", (FORM,)),
        (b"%5Fmethod=DELETE", (FORM,)),
        (b"+_method=PUT", (FORM,)),
        (b"_method[]=DELETE", (FORM,)),
        (b"a=1;_method=DELETE", (FORM,)),
        (b"_method=DELETE", ("Content-Type: APPLICATION/X-WWW-FORM-URLENCODED; Charset=UTF-8",)),
        (b"_method=DELETE", ()),  # no Content-Type: Rack reads a POST's body as a form
        (b"_method=DELETE", ("Content-Type: text/plain",)),  # what the server reads, not what it says
        (b"_method=DELETE", (FORM, "Content-Type: application/json")),  # two Content-Types
        (b"+AF8-method=DELETE", ("Content-Type: application/x-www-form-urlencoded; charset=utf-7",)),
        (
            "_method=DELETE".encode("utf-16-le"),
            ("Content-Type: application/x-www-form-urlencoded; charset=utf-16le",),
        ),
        (_multipart('name="_method"', "DELETE"), (MULTIPART,)),
        (_multipart("name=_method", "PATCH"), (MULTIPART,)),
        (_multipart('NAME="_method"', "DELETE"), (MULTIPART,)),
        (_multipart('name="_method"', "DELETE", disposition="content-disposition"), (MULTIPART,)),
        (_multipart('name="_method"', "DELETE", boundary="other"), (MULTIPART,)),  # boundary not declared
        (_multipart('name="_method"', "DELETE"), ()),  # no Content-Type at all
        (_multipart("name*=utf-8''%5Fmethod", "DELETE"), (MULTIPART,)),
        (_multipart('name="_me\\thod"', "DELETE"), (MULTIPART,)),  # a quoted-string escape
        (_multipart('name="file"; filename="a name=_method;"', "DELETE"), (MULTIPART,)),  # Rack's last name=
        (_multipart('name="_method"\r\nContent-Transfer-Encoding: base64', "REVMRVRF"), (MULTIPART,)),
        (b'{"_method": "DELETE"}', ("Content-Type: application/json",)),  # Laravel's JSON input
        (b'{"title": "x", "_method": "PUT"}', ()),
        (b'{"_method": ["DELETE"]}', ("Content-Type: application/json",)),
        ('{"_method": "DELETE"}'.encode("utf-16"), ("Content-Type: application/json",)),
    ],
)
def test_a_method_parameter_in_the_body_is_refused(
    tmp_path: Path,
    server: tuple[int, list[bytes]],  # noqa: F811
    body: bytes,
    headers: tuple[str, ...],
) -> None:
    port, heads = server
    audit = MemoryAudit()
    out = _through_proxy(tmp_path, RULES, _post(port, body, *headers), audit)
    assert out.split(b"\r\n")[0] in REFUSED, out
    assert heads == []


def test_a_chunked_form_body_is_read_before_the_decision(
    tmp_path: Path,
    server: tuple[int, list[bytes]],  # noqa: F811
) -> None:
    port, heads = server
    body = b"5\r\ntitle\r\n9\r\n=x&_metho\r\n8\r\nd=DELETE\r\n0\r\n\r\n"
    head = (
        f"POST http://127.0.0.1:{port}/items/1 HTTP/1.1\r\nHost: x\r\n{FORM}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    out = _through_proxy(tmp_path, RULES, head.encode() + body, MemoryAudit())
    assert out.split(b"\r\n")[0] in REFUSED, out
    assert heads == []


def test_a_compressed_body_is_refused(
    tmp_path: Path,
    server: tuple[int, list[bytes]],  # noqa: F811
) -> None:
    port, heads = server
    body = gzip.compress(b"_method=DELETE")
    out = _through_proxy(tmp_path, RULES, _post(port, body, FORM, "Content-Encoding: gzip"), MemoryAudit())
    assert out.split(b"\r\n")[0] in REFUSED, out
    assert heads == []


def test_a_body_too_large_to_read_is_refused(
    tmp_path: Path,
    server: tuple[int, list[bytes]],  # noqa: F811
) -> None:
    port, heads = server
    head = (
        f"POST http://127.0.0.1:{port}/upload HTTP/1.1\r\nHost: x\r\n{FORM}\r\n"
        f"Content-Length: {BODY_LIMIT + 1}\r\n\r\n"
    )
    out = _through_proxy(tmp_path, RULES, head.encode(), MemoryAudit())
    assert out.split(b"\r\n")[0] in (*REFUSED, b"HTTP/1.1 413 Content Too Large"), out
    assert heads == []


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"title=x&_method=POST", (FORM,)),  # names the request's own method
        (b"title=x&method=DELETE&x_method=DELETE", (FORM,)),
        (b'{"method": "DELETE", "nested": {"_method": "DELETE"}}', ("Content-Type: application/json",)),
        (_multipart('name="_method"', "POST"), (MULTIPART,)),
        (_multipart('name="method"', "DELETE"), (MULTIPART,)),
        (b"", (FORM,)),
    ],
)
def test_other_bodies_still_go_through_unchanged(
    tmp_path: Path,
    body: bytes,
    headers: tuple[str, ...],
) -> None:
    bodies: list[bytes] = []

    def handle(conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < len(body):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            bodies.append(data.split(b"\r\n\r\n", 1)[1])
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    with loopback_server(handle) as port:
        out = _through_proxy(tmp_path, RULES, _post(port, body, *headers), MemoryAudit())
    assert out.startswith(b"HTTP/1.1 200"), out
    assert bodies == [body]


def test_a_client_waiting_for_100_continue_gets_it_and_its_body_is_read(
    tmp_path: Path,
    server: tuple[int, list[bytes]],  # noqa: F811
) -> None:
    port, heads = server
    body = b"_method=DELETE"
    head = (
        f"POST http://127.0.0.1:{port}/items/1 HTTP/1.1\r\nHost: x\r\n{FORM}\r\nExpect: 100-continue\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with egress_proxy(tmp_path, RULES, FakeResolver({})) as connect, connect() as client:
        client.sendall(head)
        first = client.recv(4096)
        assert first.startswith(b"HTTP/1.1 100"), first
        client.sendall(body)
        out = first.split(b"\r\n\r\n", 1)[1]
        while chunk := client.recv(4096):
            out += chunk
    assert out.split(b"\r\n")[0] in REFUSED, out
    assert heads == []
