"""Characters a person cannot see, made visible wherever a request is shown to be answered.

Bidi overrides and isolates make a browser or terminal lay text out in another order than it runs
(Trojan Source); zero-width, tag and control characters carry text no one sees. An approver must
answer what the call really holds, so each such character is shown as a mark (``⟦U+202E⟧``), or in
JSON as its ``\\uXXXX`` escape (the same value, so an edit still round-trips), and the count is
returned so a page can warn.

A letter or digit from another script inside a word that also holds ASCII letters reads as the Latin
letter it looks like (a Cyrillic ``і`` makes ``gіthub.com`` another host): it is marked the same
way. A word is a run of letters, digits, marks and ``.-_`` (a host, a file name, an identifier);
words wholly in one other script, and accented Latin letters, are shown as they are.
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


def _in_word(ch: str) -> bool:
    return ch.isalnum() or ch in "._-" or unicodedata.category(ch).startswith("M")


def _foreign(ch: str) -> bool:
    """A non-ASCII letter or digit that is not a Latin one (fullwidth and mathematical forms are not)."""
    return (
        not ch.isascii()
        and unicodedata.category(ch)[0] in "LN"
        and not unicodedata.name(ch, "").startswith("LATIN ")
    )


def _lookalikes(text: str) -> set[int]:
    """Offsets of the foreign letters in words that also hold an ASCII letter."""
    found: set[int] = set()
    start = 0
    for end in range(len(text) + 1):
        if end < len(text) and _in_word(text[end]):
            continue
        word = text[start:end]
        if not word.isascii() and any(c.isascii() and c.isalpha() for c in word):
            found.update(start + i for i, c in enumerate(word) if _foreign(c))
        start = end + 1
    return found


def _replace(text: str, how: Callable[[str], str]) -> tuple[str, int]:
    if text.isascii() and not _ASCII_HIDDEN.search(text):
        return text, 0
    lookalike = _lookalikes(text)
    out: list[str] = []
    count = 0
    for i, ch in enumerate(text):
        if _hidden(ch) or i in lookalike:
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
