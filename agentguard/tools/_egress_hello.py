"""The opening of a CONNECT tunnel: every ClientHello is checked, also the one after a HelloRetryRequest.

A TLS 1.3 server that wants another key share answers the first ClientHello with a
HelloRetryRequest, and the client sends a second ClientHello in the clear. RFC 8446 forbids a
changed server name (SNI) there, but a server that does not check may read it from that second
one, so a tunnel decided for one host could end up served as another. The proxy therefore holds
the client's bytes until the server's first record arrives; after a HelloRetryRequest the next
ClientHello is checked like the first before anything else goes up. Only then is the tunnel
spliced.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
from collections.abc import Callable

from agentguard.errors import ToolFailed
from agentguard.tools._egress_tls import RECORD_HEADER, ClientHelloError, record_length, server_name

__all__ = ["HelloGate"]

_TOOL = "net.connect"
_HANDSHAKE, _CHANGE_CIPHER_SPEC = 0x16, 0x14
_SERVER_HELLO = 0x02
# RFC 8446 4.1.3: a HelloRetryRequest is a ServerHello with this random.
_RETRY_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
_RANDOM_AT = RECORD_HEADER + 4 + 2  # record header, handshake header, legacy_version
_SERVER_RECORD_MAX = RECORD_HEADER + 16384 + 2048
_HELD_MAX = 1 << 20  # client bytes held while the server has not answered (0-RTT data at most)


def is_retry_request(record: bytes) -> bool:
    """Whether the server's first record is a HelloRetryRequest (one it cannot read is refused)."""
    if len(record) <= RECORD_HEADER or record[0] != _HANDSHAKE or record[RECORD_HEADER] != _SERVER_HELLO:
        return False
    if len(record) < _RANDOM_AT + 32:
        raise ToolFailed("the server's ServerHello is split across records", tool=_TOOL)
    return record[_RANDOM_AT : _RANDOM_AT + 32] == _RETRY_RANDOM


class HelloGate:
    """Checks the ClientHello(s) of one tunnel; ``held`` is what the client sent past the CONNECT head."""

    def __init__(
        self,
        client: socket.socket,
        upstream: socket.socket,
        held: bytearray,
        timeout_s: float,
        check: Callable[[str | None], None],
    ) -> None:
        self.client, self.upstream, self.held = client, upstream, held
        self.timeout_s = timeout_s
        self.check = check  # raises when a server name is not the decided host
        self.client_eof = False
        self.up = self.down = 0

    def run(self) -> str | None:
        """Check and send the ClientHello(s); the server name of the first. Held bytes go up last."""
        sni = self._hello(self._client_record())
        for _ in range(2):  # at most one HelloRetryRequest is legal; a second one is checked alike
            answer = self._server_record()
            if answer is None:
                self.held.clear()  # the server closed: nothing more goes up
                return sni
            self.client.sendall(answer)
            self.down += len(answer)
            if not is_retry_request(answer):
                self._send_up(bytes(self.held))
                self.held.clear()
                if self.client_eof:
                    with contextlib.suppress(OSError):
                        self.upstream.shutdown(socket.SHUT_WR)
                return sni
            before = b""
            record = self._client_record()
            while record[0] == _CHANGE_CIPHER_SPEC:  # TLS 1.3 middlebox compatibility: sent with it
                before += record
                record = self._client_record()
            self._hello(record, before)
        raise ToolFailed("the server sent more than one HelloRetryRequest", tool=_TOOL)

    def _hello(self, record: bytes, before: bytes = b"") -> str | None:
        try:
            sni = server_name(record)
        except ClientHelloError as exc:
            raise ToolFailed(f"tunnel refused: {exc}", tool=_TOOL) from None
        self.check(sni)
        self._send_up(before + record)
        return sni

    def _send_up(self, data: bytes) -> None:
        if data:
            self.upstream.sendall(data)
            self.up += len(data)

    def _client_record(self) -> bytes:
        header = self._client_bytes(RECORD_HEADER)
        if header[0] == _CHANGE_CIPHER_SPEC:
            length = RECORD_HEADER + int(struct.unpack_from(">H", header, 3)[0])
        else:
            try:
                length = record_length(header)
            except ClientHelloError as exc:
                raise ToolFailed(f"tunnel refused: {exc}", tool=_TOOL) from None
        return header + self._client_bytes(length - RECORD_HEADER)

    def _client_bytes(self, n: int) -> bytes:
        self.client.settimeout(self.timeout_s)
        while len(self.held) < n:
            data = b"" if self.client_eof else self.client.recv(65536)
            if not data:
                raise ToolFailed("the client closed the tunnel before its TLS ClientHello", tool=_TOOL)
            self.held += data
        out = bytes(self.held[:n])
        del self.held[:n]
        return out

    def _server_record(self) -> bytes | None:
        """The server's first record, whole; client bytes meanwhile are held, not sent."""
        got = bytearray()
        need = RECORD_HEADER
        if self.client_eof and not self.held:  # all the client sent is up: pass its half-close on
            with contextlib.suppress(OSError):
                self.upstream.shutdown(socket.SHUT_WR)
        while len(got) < need:
            waiting = [self.upstream] if self.client_eof else [self.upstream, self.client]
            readable, _, _ = select.select(waiting, [], [], self.timeout_s)
            if not readable:
                raise ToolFailed("the server did not answer the TLS ClientHello in time", tool=_TOOL)
            if self.client in readable:
                data = self.client.recv(65536)
                if not data:
                    self.client_eof = True
                    if not self.held:  # nothing waits to go up: pass the half-close on
                        with contextlib.suppress(OSError):
                            self.upstream.shutdown(socket.SHUT_WR)
                self.held += data
                if len(self.held) > _HELD_MAX:
                    raise ToolFailed("the client sent too much before the server answered", tool=_TOOL)
            if self.upstream in readable:
                data = self.upstream.recv(need - len(got))
                if not data:
                    return None if not got else bytes(got)
                got += data
                if len(got) == RECORD_HEADER:
                    need = RECORD_HEADER + int(struct.unpack_from(">H", got, 3)[0])
                    if need > _SERVER_RECORD_MAX:
                        raise ToolFailed("the server's first TLS record is too long", tool=_TOOL)
        return bytes(got)
