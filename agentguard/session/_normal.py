"""The normal form of a text value: what two spellings of one value share.

Letter case, Unicode compatibility forms, invisible format characters and runs of white space do
not change what a value means to a tool, so they do not change its key (see ``_values``).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_KEY_CHARS", "MIN_CONTAINED", "key_of"]

# Leaf values at least this long (after normalising) are also found *inside* a longer text
# argument; shorter ones ("ok", "2024") would match almost any text.
MIN_CONTAINED = 12
MAX_KEY_CHARS = 4096


_SPACE = re.compile(r"\s+")

_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
# Addresses as mail servers deliver them: internationalised local parts and domains, quoted local
# parts, address literals (``bob@[192.0.2.1]``).
_EMAIL = re.compile(
    r"(?i)(?<![\w.%+-])(?:\"[^\"\s@]{1,64}\"|[\w.%+-]{1,64})@"
    r"(?:(?:" + _LABEL + r"\.)+[^\W\d_]{2,63}(?![\w-])|\[[0-9a-f:.]{2,45}\])"
)
_HOST_NAME = re.compile(r"(?:" + _LABEL + r"\.)*" + _LABEL)

_TOKEN_EDGE = ".,;:!?\"'`()[]{}<>*_~"  # noqa: S105 - punctuation, not a password
_TRAILING_URL_PUNCT = ".,;:!?'\")]}>"


# Invisible code points that are not format characters (Cf): variation selectors, the combining
# grapheme joiner, Hangul and Khmer fillers, Mongolian selectors (Unicode's default-ignorables).
_IGNORABLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u180f\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)


def _is_format_char(ch: str) -> bool:
    """Invisible: a format character (zero-width, joiners, bidi marks, soft hyphen) or another
    default-ignorable code point (variation selectors, Hangul fillers)."""
    return ch in _IGNORABLE or unicodedata.category(ch) == "Cf"


def _clean(text: str) -> str:
    """NFKC, no invisible format characters (zero-width spaces, joiners, bidi marks), lower-cased.

    Lowered, not case-folded: folding merges ``ß`` with ``ss`` and ``ς`` with ``σ``, which tools keep
    apart (IDNA2008 domains), so a look-alike would share the key of the value the user wrote.
    """
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = "".join(ch for ch in text if not _is_format_char(ch))
    return text.lower()


def _visible(text: str) -> str:
    """``text`` without invisible format characters: ``drop@evil\u200b.example`` is ``drop@evil.example``."""
    return "".join(ch for ch in text if not _is_format_char(ch))


def key_of(text: str) -> str:
    """The normal form of a text value: cleaned, whitespace runs as one space, trimmed."""
    if text.isascii() and text.isprintable() and "  " not in text:
        # NFKC keeps printable ASCII as it is, and its only white space is single spaces
        return text.lower().strip()
    return _SPACE.sub(" ", _clean(text)).strip()
