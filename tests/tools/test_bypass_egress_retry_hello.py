"""Red team: the ClientHello after a TLS HelloRetryRequest went through the tunnel unchecked.

The proxy read the first ClientHello of a CONNECT tunnel, checked its server name (SNI) against the
decided host, and spliced. A TLS 1.3 server that wants another key share answers with a
HelloRetryRequest and the client sends a second ClientHello in the clear, which reached the server
unseen; a server that reads the name from it (RFC 8446 forbids changing it, not every server
checks) could serve a tunnel decided for ``loop.test`` as another virtual host. The proxy now
holds the client's bytes until the server's first record, and after a HelloRetryRequest checks
the next ClientHello like the first. Without Docker: the proxy's Unix socket driven directly; a
real guard and policy decide; servers on loopback, one a real TLS 1.3 server that asks for a
retry.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentguard.testing import FakeResolver
from agentguard.tools._egress_hello import is_retry_request
from tests.loopback import self_signed
from tests.tools.egress_rig import egress_proxy, loopback_server
from tests.tools.test_egress_attacks_2 import _client_hello, _record

RULE = 'p, *, net.connect, ip(host, "127.0.0.1/32"), allow\n'
RETRY_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
CCS = b"\x14\x03\x03\x00\x01\x01"


def _retry_request() -> bytes:
    body = b"\x03\x03" + RETRY_RANDOM + b"\x00" + b"\x13\x01" + b"\x00" + b"\x00\x00"
    return _record(b"\x02" + len(body).to_bytes(3, "big") + body)


def _read_record(conn: socket.socket) -> bytes:
    data = b""
    while len(data) < 5 or len(data) < 5 + struct.unpack_from(">H", data, 3)[0]:
        chunk = conn.recv(1)
        if not chunk:
            return data
        data += chunk
    return data


class Retrying:
    """A server that answers the first ClientHello with a HelloRetryRequest; keeps what came after."""

    def __init__(self) -> None:
        self.port = 0
        self.after: list[bytes] = []
        self.done = threading.Event()

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        data = b""
        try:
            with contextlib.suppress(OSError):
                _read_record(conn)
                conn.sendall(_retry_request())
                while chunk := conn.recv(65536):
                    data += chunk
            self.after.append(data)
            conn.close()
        finally:
            self.done.set()

    def received_after_retry(self) -> list[bytes]:
        assert self.done.wait(15), "the server saw no connection end"
        return self.after


@pytest.fixture
def retrying() -> Iterator[Retrying]:
    server = Retrying()
    with loopback_server(server.handle) as port:
        server.port = port
        yield server


@contextlib.contextmanager
def _proxy(tmp: Path) -> Iterator[Callable[[], socket.socket]]:
    with egress_proxy(tmp, RULE, FakeResolver({"loop.test": ["127.0.0.1"]})) as connect:
        yield connect


def _drain(s: socket.socket) -> bytes:
    out = b""
    with contextlib.suppress(OSError):
        while data := s.recv(65536):
            out += data
    return out


@pytest.mark.parametrize("pipelined", [True, False])
def test_a_second_client_hello_for_another_name_never_reaches_the_server(
    tmp_path: Path, retrying: Retrying, pipelined: bool
) -> None:
    port = retrying.port
    head = f"CONNECT loop.test:{port} HTTP/1.1\r\nHost: loop.test\r\n\r\n".encode()
    first, second = _record(_client_hello("loop.test")), CCS + _record(_client_hello("other.test"))
    with _proxy(tmp_path) as connect, contextlib.closing(connect()) as s:
        if pipelined:  # sent before the server answered: held, then checked
            s.sendall(head + first + second)
        else:
            s.sendall(head + first)
            got = b""
            while _retry_request() not in got:
                chunk = s.recv(65536)
                assert chunk, got
                got += chunk
            s.sendall(second)
        s.shutdown(socket.SHUT_WR)
        _drain(s)
    assert retrying.received_after_retry() == [b""]  # nothing after the first ClientHello reached it


def test_a_second_client_hello_for_the_decided_name_goes_through(tmp_path: Path, retrying: Retrying) -> None:
    port = retrying.port
    head = f"CONNECT loop.test:{port} HTTP/1.1\r\nHost: loop.test\r\n\r\n".encode()
    second = CCS + _record(_client_hello("loop.test"))
    with _proxy(tmp_path) as connect, contextlib.closing(connect()) as s:
        s.sendall(head + _record(_client_hello("loop.test")) + second)
        s.shutdown(socket.SHUT_WR)
        assert _retry_request() in _drain(s)
    assert retrying.received_after_retry() == [second]


def _server_context(directory: Path) -> ssl.SSLContext:
    certfile, keyfile = self_signed(directory, "loop.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(certfile, keyfile)
    context.set_ecdh_curve("prime256v1")  # not the client's first key share (x25519): a retry
    return context


def _client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_a_real_tls_handshake_with_a_retry_still_works(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    server_context = _server_context(tmp_path / "c")

    def handle(conn: socket.socket) -> None:
        conn.settimeout(10)
        with (
            contextlib.suppress(OSError, ssl.SSLError),
            server_context.wrap_socket(conn, server_side=True) as tls,
        ):
            tls.sendall(b"hello " + tls.recv(100))

    with loopback_server(handle) as port:
        # the server really asks for a retry: its answer to a real client's first ClientHello
        probe = _client_context().wrap_bio(
            ssl.MemoryBIO(), outgoing := ssl.MemoryBIO(), server_hostname="loop.test"
        )
        with contextlib.suppress(ssl.SSLWantReadError):
            probe.do_handshake()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(outgoing.read())
            assert is_retry_request(_read_record(raw))
        with _proxy(tmp_path) as connect:
            s = connect()
            s.sendall(f"CONNECT loop.test:{port} HTTP/1.1\r\nHost: loop.test\r\n\r\n".encode())
            assert s.recv(len(b"HTTP/1.1 200 Connection established\r\n\r\n")).startswith(b"HTTP/1.1 200")
            with _client_context().wrap_socket(s, server_hostname="loop.test") as tls:
                tls.sendall(b"there")
                assert tls.recv(100) == b"hello there"
