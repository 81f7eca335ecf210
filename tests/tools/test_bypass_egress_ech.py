"""Red team: a CONNECT tunnel's ClientHello named the decided host outside and another one inside.

With TLS Encrypted Client Hello (``encrypted_client_hello``, 0xfe0d; its draft ``encrypted_server_name``,
0xffce) the SNI in the clear is only the outer name: a server that holds the ECH key (a CDN
fronting many sites) decrypts the inner ClientHello and serves the name written there. The proxy
checked the outer name only, so a tunnel decided for ``allowed.example`` on a shared front could be
served as any other site behind it. A ClientHello carrying either extension is now refused (the
inner name cannot be read here), like any other hello the proxy cannot check.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from agentguard.tools._egress_tls import ClientHelloError, server_name
from tests.tools.test_egress_attacks_2 import _LOOP_RULE, _proxy_answer, _record, recorder  # noqa: F401


def _hello(sni: str, extra: bytes) -> bytes:
    name = sni.encode()
    entry = b"\x00" + struct.pack(">H", len(name)) + name
    data = struct.pack(">H", len(entry)) + entry
    ext = struct.pack(">HH", 0, len(data)) + data + extra
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += struct.pack(">H", len(ext)) + ext
    return _record(b"\x01" + len(body).to_bytes(3, "big") + body)


def _extension(kind: int, payload: bytes) -> bytes:
    return struct.pack(">HH", kind, len(payload)) + payload


# outer ECH: type 0, kdf/aead ids, config id, enc, payload (the encrypted inner ClientHello)
_ECH = _extension(
    0xFE0D, b"\x00\x00\x01\x00\x01\x2a" + b"\x00\x20" + b"\x22" * 32 + b"\x00\x40" + b"\x33" * 64
)
_ESNI = _extension(0xFFCE, b"\x13\x01" + b"\x00\x1d\x00\x20" + b"\x44" * 32 + b"\x00\x20" + b"\x55" * 32)


@pytest.mark.parametrize("extension", [_ECH, _ESNI], ids=["ech", "esni"])
def test_a_hello_with_an_encrypted_inner_name_never_reaches_the_server(
    tmp_path: Path,
    recorder: tuple[int, list[bytes]],  # noqa: F811
    extension: bytes,
) -> None:
    port, received = recorder
    head = f"CONNECT loop.test:{port} HTTP/1.1\r\nHost: loop.test\r\n\r\n".encode()
    out = _proxy_answer(tmp_path, _LOOP_RULE, head + _hello("loop.test", extension))
    assert out.startswith(b"HTTP/1.1 200")  # the tunnel was decided, then its hello refused
    assert all(r == b"" for r in received)  # at most a TCP handshake: no byte reached the server


@pytest.mark.parametrize("extension", [_ECH, _ESNI], ids=["ech", "esni"])
def test_the_parser_refuses_an_encrypted_name(extension: bytes) -> None:
    with pytest.raises(ClientHelloError, match="encrypted"):
        server_name(_hello("loop.test", extension))


def test_other_extensions_still_pass() -> None:
    assert server_name(_hello("loop.test", _extension(0x002B, b"\x02\x03\x04"))) == "loop.test"
