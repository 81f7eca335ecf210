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
import re

__all__ = ["decoded_runs"]

_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")
_HEX_RUN = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){6,}(?![0-9A-Fa-f])")
_MAX_RUNS = 64  # runs decoded per text: a text of many runs is read by its first ones


def _printable(data: bytes) -> str | None:
    if not data.isascii():
        return None
    text = data.decode("ascii")
    return text if text.isprintable() and text.strip() else None


def _b64(run: str) -> str | None:
    body = run.rstrip("=")
    if len(body) % 4 == 1 or body.isalpha() or body.isdigit():  # a word or a number, not base64
        return None
    try:
        data = base64.b64decode(
            body + "=" * (-len(body) % 4), altchars=b"-_" if "-" in body or "_" in body else None
        )
    except (binascii.Error, ValueError):
        return None
    return _printable(data)


def decoded_runs(text: str) -> list[str]:
    """The printable texts the base64 and hex runs of ``text`` decode to (a path's segments too)."""
    if len(text) < 12:
        return []
    out: list[str] = []
    runs = 0
    for m in _HEX_RUN.finditer(text):
        runs += 1
        plain = _printable(bytes.fromhex(m.group()))
        if plain is not None:
            out.append(plain)
        if runs >= _MAX_RUNS:
            return out
    for m in _B64_RUN.finditer(text):
        run = m.group()
        pieces = [run] if "/" not in run else [run, *(p for p in run.split("/") if len(p) >= 12)]
        for piece in pieces:
            runs += 1
            plain = _b64(piece)
            if plain is not None:
                out.append(plain)
        if runs >= _MAX_RUNS:
            break
    return out
