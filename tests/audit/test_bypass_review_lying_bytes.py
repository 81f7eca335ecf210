"""Review of the audit red team's "values logged as the data they hold": bytes were left out.

``bytes(value)`` asks a ``bytes`` or ``bytearray`` subclass for its ``__bytes__``, so a value that
held ``rm -rf /`` (what validation and the tool read) was written to the log as whatever that method
said. The data is now decoded straight from the object.
"""

from __future__ import annotations

import pytest

from agentguard.audit._redact import redact


class _Bytes(bytes):
    def __bytes__(self) -> bytes:
        return b"ls -la"


class _ByteArray(bytearray):
    def __bytes__(self) -> bytes:
        return b"ls -la"


@pytest.mark.parametrize("kind", [_Bytes, _ByteArray])
def test_a_bytes_subclass_is_logged_as_the_data_it_holds(kind: type) -> None:
    assert redact(kind(b"rm -rf /")) == "rm -rf /"
    assert redact({"command": kind(b"rm -rf /")}) == {"command": "rm -rf /"}


def test_plain_bytes_are_unchanged() -> None:
    assert redact(b"caf\xc3\xa9 \xff") == "caf\u00e9 \ufffd"
    assert redact(bytearray(b"x")) == "x"
