"""IBANs written in text: the country fixes the length, python-stdnum checks format and checksum.

People write IBANs in groups with spaces, dots, dashes or line breaks between them; every spelling
of one account shares one key (the compact, lower-cased IBAN).
"""

from __future__ import annotations

import re

from stdnum import iban as _stdnum_iban
from stdnum import numdb

__all__ = ["iban_at", "iban_hint", "iban_in", "iban_key", "loose_iban_key"]

# An IBAN as people write it: letters and digits in groups of up to four, single spaces allowed.
_IBAN = re.compile(r"(?i)\b[a-z]{2}\d{2}(?:[ -]?[a-z0-9]){11,30}\b")


def iban_key(text: str) -> str | None:
    compact = re.sub(r"[ -]", "", text)
    if 15 <= len(compact) <= 34 and compact[:2].isalpha() and compact[2:4].isdigit() and compact.isalnum():
        return compact.lower()
    return None


def _iban_lengths() -> dict[str, int]:
    """Each IBAN country's length, from python-stdnum's registry (``GB``: 22)."""
    lengths: dict[str, int] = {}
    for _length, low, high, props, _children in numdb.get("iban").prefixes:
        if low == high and "bban" in props:
            size = sum(int(n) for n in re.findall(r"(\d+)!", props["bban"]))
            lengths[low.upper()] = 4 + size
    return lengths


_IBAN_LENGTHS = _iban_lengths()
_IBAN_START = re.compile(r"[A-Za-z]{2}\d{2}")
_MAX_SEPARATOR = 3  # characters between two characters of an IBAN: "GB29 - NWBK", a line break


def iban_at(text: str, start: int) -> tuple[str, str] | None:
    """(as written, key) of a valid IBAN starting at ``start``, whatever separates its characters.

    The country fixes the length, and python-stdnum checks the format and the checksum, so a run of
    words is not read into an IBAN by chance; separators are up to three characters of anything that
    is not an ASCII letter or digit (spaces, dots, slashes, line breaks, underscores).
    """
    length = _IBAN_LENGTHS.get(text[start : start + 2].upper())
    if length is None:
        return None
    chars: list[str] = []
    pos = start
    gap = 0
    end = start
    while pos < len(text) and len(chars) < length:
        ch = text[pos]
        if ch.isascii() and ch.isalnum():
            chars.append(ch)
            gap = 0
            end = pos + 1
        else:
            gap += 1
            if gap > _MAX_SEPARATOR:
                break
        pos += 1
    if len(chars) != length:
        return None
    compact = "".join(chars).upper()
    if not _stdnum_iban.is_valid(compact, check_country=False):
        return None
    return text[start:end], compact.lower()


def loose_iban_key(text: str) -> str | None:
    """The key of a text that is one IBAN written with any separators (``GB29.NWBK.6016...``)."""
    found = iban_at(text, 0) if _IBAN_START.match(text) else None
    return found[1] if found is not None and len(found[0]) == len(text) else None


_DIGIT_PAIR = re.compile(r"\d\d")
_IBAN_HINT = re.compile(r"(?i)[a-z]{2}\d\d")  # what both IBAN scans below need at their start
_TWO_LETTERS = re.compile(r"(?i)[a-z]{2}")


# Each byte as its class for iban_hint's ASCII path: L an ASCII letter, D a digit, "." anything else.
_CLASSES = bytes(
    ord("L") if chr(i).isascii() and chr(i).isalpha() else ord("D") if chr(i) in "0123456789" else ord(".")
    for i in range(256)
)


def iban_hint(text: str) -> bool:
    r"""``_IBAN_HINT.search(text)``, without sre trying every position.

    In ASCII text ``(?i)[a-z]`` is an ASCII letter and ``\d`` a digit 0-9, so the text's bytes mapped
    to their classes (one C pass) hold ``LLDD`` exactly where the pattern matches. Elsewhere it is
    found from the digit pairs: prose has few digits and many letters, and a case-insensitive class
    makes sre try every letter. Pairs do not overlap, but the pair right after two letters cannot be
    cut, since a letter precedes its first digit."""
    if text.isascii():
        # find, not ``in``: bytes ``in`` first tries its operand as an int and raises and clears a TypeError
        return text.encode("ascii").translate(_CLASSES).find(b"LLDD") >= 0
    return any(_TWO_LETTERS.match(text, m.start() - 2) for m in _DIGIT_PAIR.finditer(text, 2))


def iban_in(candidate: str) -> tuple[str, str] | None:
    """The longest checksum-valid IBAN at the start of a greedy match ("DE89 3704 ... 00 thanks")."""
    cuts = [len(candidate), *[m.start() for m in re.finditer(r"[ -]", candidate)][::-1]]
    for end in cuts:
        text = candidate[:end]
        key = iban_key(text)
        if key is not None and _iban_checksum(key):
            return text, key
    return None


def _iban_checksum(key: str) -> bool:
    s = key.upper()
    try:
        number = int("".join(str(int(c, 36)) for c in s[4:] + s[:4]))
    except ValueError:
        return False
    return number % 97 == 1
