"""How ``regex()`` runs RE2: its options, Python escapes RE2 spells differently, and a whole-string match.

The match uses the binding's own ``Match`` call where a probe at import shows it answers as the public
``fullmatch`` (which wraps it in a generator and a match object: two thirds of a successful match's
cost); otherwise ``fullmatch``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import re2

__all__ = ["RE2_OPTIONS", "re2_source", "whole_match"]


def _re2_options() -> re2.Options:
    opts = re2.Options()
    opts.log_errors = False
    opts.max_mem = 32 << 20
    return opts


RE2_OPTIONS = _re2_options()


def _raw_match_answers_as_fullmatch() -> bool:
    """Whether this binding's ``Match`` call (what ``fullmatch`` wraps) is there and answers as
    ``fullmatch`` does, checked once: it is not the binding's public interface."""
    try:
        rx = re2.compile("a(b|c)?", RE2_OPTIONS)
        both, miss = re2._Anchor.ANCHOR_BOTH, re2._NULL_SPAN
        probes = (b"", b"a", b"ab", b"abc", b"ca")
        raw = [rx._regexp.Match(both, p, 0, len(p))[0] != miss for p in probes]
        return raw == [rx.fullmatch(p) is not None for p in probes] == [False, True, True, False, False]
    except Exception:  # noqa: BLE001 - another binding: its public call is used
        return False


_RAW_MATCH = _raw_match_answers_as_fullmatch()


def whole_match(rx: Any) -> Callable[[bytes], bool]:
    """Whether ``rx`` matches all of a byte string: the binding's own ``Match`` call, without the
    generator and match object ``fullmatch`` wraps it in (two thirds of a successful match's cost)."""
    if _RAW_MATCH:
        both, miss, match = re2._Anchor.ANCHOR_BOTH, re2._NULL_SPAN, rx._regexp.Match
        return lambda data: bool(match(both, data, 0, len(data))[0] != miss)
    return lambda data: rx.fullmatch(data) is not None


_PY_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(Z)|(.))", re.DOTALL)


def re2_source(source: str) -> str:
    """Python escapes RE2 spells differently: ``\\uXXXX``, ``\\UXXXXXXXX`` (grants write them), ``\\Z``."""

    def swap(m: re.Match[str]) -> str:
        code = m.group(1) or m.group(2)
        if code:
            return f"\\x{{{code}}}"
        return "\\z" if m.group(3) else m.group(0)

    return _PY_ESCAPE.sub(swap, source)
