"""Values an agent wrote base64- or hex-encoded into a text argument, decoded.

``REU4OTM3MDQwMDQ0MDUzMjAxMzAwMA==`` in a payment reference is the IBAN ``DE89370400440532013000``
to whoever receives it. A run of the base64 or hex alphabet long enough to hold a short value (12
characters: 9 bytes of base64, 6 of hex) is decoded, and kept when it decodes to printable text: a
word or an id that only looks like base64 decodes to bytes that are not (the chance that 9 random
bytes are printable ASCII is below one in 10^4). Only ever a reading to *find* a seen value in
(``Session.find_in``), never a source of trust.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["decoded_runs"]

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
# every byte outside the base64 alphabets (standard and URL-safe) read as a space: runs are words
_RUNS = bytes(b if b in _ALPHABET else 0x20 for b in range(256))
_HEX = b"0123456789abcdefABCDEF"
_MIN_RUN = 12
_MARKS = bytes(0x78 if b in _ALPHABET else 0x20 for b in range(256))  # x inside a run, space outside
_LONG_RUN = b"x" * _MIN_RUN
_MAX_RUNS = 64  # runs decoded per text: a text of many runs is read by its first ones


def _printable(data: bytes) -> str | None:
    if not data.isascii():
        return None
    text = data.decode("ascii")
    return text if text.isprintable() and text.strip() else None


def _b64(run: bytes) -> str | None:
    if len(run) % 4 == 1 or run.isalpha() or run.isdigit():  # a word or a number, not base64
        return None
    urlsafe = b"-" in run or b"_" in run
    try:
        data = base64.b64decode(run + b"=" * (-len(run) % 4), altchars=b"-_" if urlsafe else None)
    except (binascii.Error, ValueError):
        return None
    return _printable(data)


def decoded_runs(text: str) -> list[str]:
    """The printable texts the base64 and hex runs of ``text`` decode to (a path's segments too)."""
    if len(text) < _MIN_RUN:
        return []
    data = text.encode("ascii", "replace")
    # the common text, settled by one substring search in C (find, not ``in``: bytes ``in`` first
    # tries its operand as an integer, raising and clearing a TypeError)
    if data.translate(_MARKS).find(_LONG_RUN) < 0:
        return []
    # every character outside the alphabets becomes a space, and the runs are the words left
    pieces = [p for p in data.translate(_RUNS).split() if len(p) >= _MIN_RUN]
    out: list[str] = []
    for run in pieces[:_MAX_RUNS]:
        candidates = [run] if b"/" not in run else [run, *(p for p in run.split(b"/") if len(p) >= _MIN_RUN)]
        for piece in candidates:
            if not piece.translate(None, _HEX) and len(piece) % 2 == 0:
                plain = _printable(bytes.fromhex(piece.decode("ascii")))
                if plain is not None:
                    out.append(plain)
                    continue
            plain = _b64(piece)
            if plain is not None:
                out.append(plain)
    return out
