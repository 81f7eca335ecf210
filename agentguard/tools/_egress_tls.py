"""The server name (SNI) in a TLS ClientHello, so a CONNECT tunnel carries TLS for the host that was decided.

Only the first handshake record is read, and only as far as the ``server_name`` extension
(RFC 8446 4.1.2, RFC 6066 3). Anything that does not parse is an error: the caller refuses the tunnel;
so is an encrypted inner name (ECH), which the server would serve instead of the one in the clear.
"""

from __future__ import annotations

import struct

__all__ = ["RECORD_HEADER", "ClientHelloError", "record_length", "server_name"]

RECORD_HEADER = 5
_HANDSHAKE = 0x16
_CLIENT_HELLO = 0x01
_SERVER_NAME = 0x0000
_HOST_NAME = 0x00
# Encrypted Client Hello and its draft (ESNI): the server serves the name inside, which the
# proxy cannot read, so the name in the clear says nothing.
_ENCRYPTED_NAME = frozenset({0xFE0D, 0xFFCE})


class ClientHelloError(ValueError):
    """The bytes are not a TLS ClientHello this proxy can read."""


def record_length(header: bytes) -> int:
    """Total length (header included) of the TLS record starting with ``header`` (5 bytes)."""
    if len(header) < RECORD_HEADER or header[0] != _HANDSHAKE or header[1] != 0x03:
        raise ClientHelloError("the tunnel does not start with a TLS handshake")
    length = int(struct.unpack_from(">H", header, 3)[0])
    if not 0 < length <= 16384 + 256:
        raise ClientHelloError(f"TLS record length {length} out of range")
    return RECORD_HEADER + length


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ClientHelloError("truncated ClientHello (split across records is not supported)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u24(self) -> int:
        b = self.take(3)
        return (b[0] << 16) | (b[1] << 8) | b[2]

    def vec(self, width: int) -> bytes:
        return self.take(self.u8() if width == 1 else self.u16())


def server_name(record: bytes) -> str | None:
    """The host name a ClientHello asks for (lowercase, no trailing dot), or None when it sends none."""
    record_length(record[:RECORD_HEADER])
    r = _Reader(record[RECORD_HEADER:])
    if r.u8() != _CLIENT_HELLO:
        raise ClientHelloError("the first TLS handshake message is not a ClientHello")
    body = _Reader(r.take(r.u24()))
    body.take(2 + 32)  # legacy_version, random
    body.vec(1)  # legacy_session_id
    body.vec(2)  # cipher_suites
    body.vec(1)  # legacy_compression_methods
    if body.pos == len(body.data):
        return None  # no extensions at all
    extensions = _Reader(body.vec(2))
    found: str | None = None
    seen: set[int] = set()
    while extensions.pos < len(extensions.data):
        kind = extensions.u16()
        data = extensions.vec(2)
        if kind in seen:
            raise ClientHelloError(f"TLS extension {kind} appears twice")
        seen.add(kind)
        if kind in _ENCRYPTED_NAME:
            raise ClientHelloError("the ClientHello has an encrypted server name (ECH): unreadable here")
        if kind != _SERVER_NAME:
            continue
        names = _Reader(_Reader(data).vec(2))
        while names.pos < len(names.data):
            name_type = names.u8()
            name = names.vec(2)
            if name_type != _HOST_NAME:
                continue
            if found is not None:
                raise ClientHelloError("more than one host name in the server_name extension")
            try:
                text = name.decode("ascii")
            except UnicodeDecodeError:
                raise ClientHelloError("the server name is not ASCII") from None
            if not text or any(not (c.isalnum() or c in "-._") for c in text):
                raise ClientHelloError(f"unreadable server name {text!r}")
            found = text.lower().rstrip(".")
    return found
