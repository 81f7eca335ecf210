"""Characters a person cannot see, made visible wherever a request is shown to be answered.

Bidi overrides and isolates make a browser or terminal lay text out in another order than it runs
(Trojan Source); zero-width, tag and control characters carry text no one sees. An approver must
answer what the call really holds, so each such character is shown as a mark (``⟦U+202E⟧``), or in
JSON as its ``\\uXXXX`` escape (the same value, so an edit still round-trips), and the count is
returned so a page can warn.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

__all__ = ["shown_json", "shown_text"]

_HIDDEN_CATEGORIES = frozenset({"Cf", "Cc", "Co", "Cn", "Cs", "Zl", "Zp"})
_SHOWN = frozenset("\n\t")  # line breaks and tabs lay out as what they are
# Default-ignorable code points outside those categories: variation selectors, the combining
# grapheme joiner, Hangul and Khmer fillers, Mongolian selectors.
_IGNORABLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u180f\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)
_ASCII_HIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _hidden(ch: str) -> bool:
    return ch not in _SHOWN and (ch in _IGNORABLE or unicodedata.category(ch) in _HIDDEN_CATEGORIES)


def _mark(ch: str) -> str:
    return f"⟦U+{ord(ch):04X}⟧"


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _replace(text: str, how: Callable[[str], str]) -> tuple[str, int]:
    if text.isascii() and not _ASCII_HIDDEN.search(text):
        return text, 0
    out: list[str] = []
    count = 0
    for ch in text:
        if _hidden(ch):
            out.append(how(ch))
            count += 1
        else:
            out.append(ch)
    return "".join(out), count


def shown_text(text: str) -> tuple[str, int]:
    """``text`` with every invisible character as a visible mark, and how many there were."""
    return _replace(text, _mark)


def shown_json(text: str) -> tuple[str, int]:
    """JSON ``text`` with every invisible character as its ``\\uXXXX`` escape (valid JSON only
    holds them inside strings, where the escape is the same value), and how many there were."""
    return _replace(text, _escape)
