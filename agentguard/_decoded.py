"""Decoded views of a byte string: what a value says once percent, base64 or hex encoding is undone.

The secret detectors scan these views too, so an agent cannot hide a key by encoding it. Every
step is a C-level pass (``bytes.translate``, ``binascii``, ``codecs``) or an RE2 search, so the
cost stays linear in the input whatever it holds.
"""

from __future__ import annotations

import binascii
import codecs
from collections.abc import Iterator
from typing import Any

import re2

__all__ = ["OPTIONS", "compile_latin1", "encoded_views"]


def _options() -> re2.Options:
    # Latin-1: every byte is one character, so byte offsets are string offsets (detectors._ascii) and
    # decoded binary views never trip over invalid UTF-8.
    opts = re2.Options()
    opts.encoding = re2.Options.Encoding.LATIN1
    opts.log_errors = False
    opts.max_mem = 64 << 20
    return opts


OPTIONS = _options()


def compile_latin1(pattern: str) -> Any:
    """An RE2 regex over bytes, one character per byte (patterns are ASCII)."""
    return re2.compile(pattern.encode("ascii"), OPTIONS)


_B64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_TABLE = bytes.maketrans(b"-_", b"+/")  # URL-safe alphabet read as the standard one
_NON_B64 = bytes(b for b in range(256) if b not in _B64_CHARS + b"-_")
_NON_HEX = bytes(b for b in range(256) if b not in b"0123456789abcdefABCDEF")
_B64_RUN = compile_latin1(r"[A-Za-z0-9+/_-]{24}")  # base64 of the shortest key we detect (18 bytes)
_HEX_RUN = compile_latin1(r"[0-9A-Fa-f]{32}")
_PCT = compile_latin1(r"%[0-9A-Fa-f]{2}")


def _percent_decoded(data: bytes) -> bytes:
    # In C, whatever the input: backslashes are escaped, then each %XX is read as \xXX (an invalid
    # escape is dropped, which only matters for text that was not percent-encoding anyway).
    escaped = data.replace(b"\\", b"\\\\").replace(b"%", b"\\x")
    decoded: bytes = codecs.escape_decode(escaped, "ignore")[0]
    return decoded


def _binary_views(data: bytes) -> Iterator[bytes]:
    """Base64 and hex decodings of every run in ``data``.

    Everything outside the alphabet is dropped and the rest decoded at each alignment, so each run,
    wherever it starts, decodes correctly in one of the views (also when wrapped over lines).
    """
    # A hex run of 32 is also a run of 24 in the base64 alphabet: without one, neither decoding can
    # hold a key (the common text, an argument or a summary, settles with one search or none).
    if len(data) < 24 or _B64_RUN.search(data) is None:
        return
    stream = data.translate(_B64_TABLE, _NON_B64)
    for k in range(4):
        chunk = stream[k:]
        if len(chunk) % 4 == 1:
            chunk = chunk[:-1]  # one character carries no whole byte
        if chunk:  # a run's last partial group is whole here; where runs are glued, the next
            # run's characters only fill bits past the run's own last byte
            yield binascii.a2b_base64(chunk + b"=" * (-len(chunk) % 4))
    if len(data) >= 32 and _HEX_RUN.search(data) is not None:
        stream = data.translate(None, _NON_HEX)
        for k in range(2):
            chunk = stream[k:]
            yield bytes.fromhex(chunk[: len(chunk) // 2 * 2].decode("ascii"))


def encoded_views(data: bytes) -> Iterator[bytes]:
    """What ``data`` decodes to: percent-decoded (twice), then base64/hex of it and of the original."""
    plain = [data]
    view = data
    for _ in range(2):
        if b"%" not in view or _PCT.search(view) is None:
            break
        view = _percent_decoded(view)
        plain.append(view)
        yield view
    for view in plain:
        yield from _binary_views(view)
