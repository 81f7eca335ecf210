"""The compact reading of a text: its letters and digits only, whatever separates them.

A reader of an identifier does not care how it is grouped: ``4237 4252 7456 2574``,
``4237-4252-7456-2574`` and ``4237425274562574`` are one card number, ``hunter2 pass`` is still
the password ``hunter2pass``, ``555.123.4567`` the phone number ``(555) 123-4567``, a message posted
form-encoded (``the+vault+code``) or without its punctuation is still the message, and digits of
another script (``١٣٧``, ``१३७``) are the digits a person reads. Only ever used to *find* a seen value
or a fact inside a text argument (``carries_untrusted``, ``leaks_to``, ``contains_fact``): merging
spellings this far never makes a value trusted, and compact keys live apart from the exact ones.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from agentguard.session._normal import MAX_KEY_CHARS

__all__ = ["MIN_COMPACT", "compact", "compact_keys"]

# A compact key is at least this long; with fewer than MIN_COMPACT_PROSE characters it must hold a
# digit (an identifier, a code, a number), since short runs of letters occur inside any text.
MIN_COMPACT = 8
MIN_COMPACT_PROSE = 12
_CACHED_CHARS = 512

_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
_NOT_ALNUM = bytes(b for b in range(128) if not chr(b).isalnum())
_NOT_WORD = re.compile(r"[\W_]+")
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")  # a decimal digit of another script: ١, १, ๑
# Digits grouped by separators (``\d`` is any script's digit): a phone, card or account number.
_DIGIT_GROUPS = re.compile(r"\d(?:[\s().\-/+]{0,3}\d)+")


def compact(text: str) -> str:
    """``text`` lower-cased with only its letters and digits (NFKC; digits of any script as 0-9)."""
    if text.isascii():  # in C: bytes.translate lowers and drops in one pass
        return text.encode("ascii").translate(_LOWER, _NOT_ALNUM).decode("ascii")
    text = _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).lower())
    if _OTHER_DIGIT.search(text) is None:
        return text
    return _OTHER_DIGIT.sub(lambda m: str(unicodedata.decimal(m.group())), text)


_has_digit = re.compile(r"\d").search


def _keep(key: str) -> bool:
    size = len(key)
    return size >= MIN_COMPACT_PROSE or (size >= MIN_COMPACT and _has_digit(key) is not None)


def compact_keys(value: str) -> tuple[str, ...]:
    """The compact keys of a text seen in a result: the whole text, each word with a digit in it,
    and each run of grouped digits (``+1 (555) 123-4567``), when long enough (see ``_keep``)."""
    return _cached(value) if len(value) <= _CACHED_CHARS else _work_out(value)


def _work_out(value: str) -> tuple[str, ...]:
    keys: list[str] = []
    whole = compact(value) if len(value) <= MAX_KEY_CHARS else ""  # a page: by its words only
    if _keep(whole):
        keys.append(whole)
    if _has_digit(value) is not None:  # an identifier inside prose: its words and digit runs
        for word in value.split():
            if len(word) >= MIN_COMPACT and _has_digit(word) is not None:
                key = compact(word)
                if _keep(key) and key != whole:
                    keys.append(key)
        for m in _DIGIT_GROUPS.finditer(value):
            key = compact(m.group())
            if _keep(key) and key != whole:
                keys.append(key)
    return tuple(dict.fromkeys(keys))


_cached = functools.lru_cache(maxsize=4096)(_work_out)
