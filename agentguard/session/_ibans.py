"""IBANs written in text: the country fixes the length, python-stdnum checks format and checksum.

People write IBANs in groups with spaces, dots, dashes or line breaks between them; every spelling
of one account shares one key (the compact, lower-cased IBAN).
"""

from __future__ import annotations

import functools
import re
import string

from stdnum import iban as _stdnum_iban
from stdnum import numdb

__all__ = ["iban_at", "iban_hint", "iban_in", "iban_key", "iban_starts", "loose_iban_key"]

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
_MAX_SEPARATOR = 3  # characters between two characters of an IBAN: "GB29 - NWBK", a line break
# The start of an IBAN as written: country letters and check digits, with separators between any
# two of them too ("GB 29 NWBK ...", "G B 2 9 ...").
_GAP = r"[^A-Za-z0-9]{0,3}"
_IBAN_START = re.compile(r"[A-Za-z]" + _GAP + r"[A-Za-z]" + _GAP + r"\d" + _GAP + r"\d")
# A check digit followed by the other one: where the scan of a text looks back for a country.
_CHECK_DIGITS = re.compile(r"\d(?=" + _GAP + r"\d)")


def iban_at(text: str, start: int) -> tuple[str, str] | None:
    """(as written, key) of a valid IBAN starting at ``start``, whatever separates its characters.

    The country fixes the length, and python-stdnum checks the format and the checksum, so a run of
    words is not read into an IBAN by chance; separators are up to three characters of anything that
    is not an ASCII letter or digit (spaces, dots, slashes, line breaks, underscores), between any
    two characters, the country's and check digits' too.
    """
    country = _COUNTRY.match(text, start)
    if country is None:
        return None
    length = _IBAN_LENGTHS.get((country.group()[0] + country.group()[-1]).upper())
    if length is None:
        return None
    run = _run(length).match(text, start)
    if run is None:
        return None
    compact = _SEPARATORS.sub("", run.group()).upper()
    if int((compact[4:] + compact[:4]).translate(_LETTER_DIGITS)) % 97 != 1:
        return None  # the checksum first: most candidates in prose fail it, and it is cheap
    if not _stdnum_iban.is_valid(compact, check_country=False):
        return None
    return run.group(), compact.lower()


_COUNTRY = re.compile(r"[A-Za-z]" + _GAP + r"[A-Za-z]")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")
_LETTER_DIGITS = str.maketrans({c: str(int(c, 36)) for c in string.ascii_uppercase})


@functools.lru_cache(maxsize=64)
def _run(length: int) -> re.Pattern[str]:
    """``length`` ASCII letters and digits, up to three separators between two of them."""
    return re.compile(rf"[A-Za-z0-9](?:{_GAP}[A-Za-z0-9]){{{length - 1}}}")


def _is_separator(ch: str) -> bool:
    return not (ch.isascii() and ch.isalnum())


def country_before(text: str, digit: int) -> int | None:
    """Where the country of an IBAN whose first check digit is at ``digit`` starts: two ASCII
    letters before it, with up to three separators before each; None when there are not."""
    pos = digit
    for _ in range(2):
        gap = 0
        pos -= 1
        while pos >= 0 and _is_separator(text[pos]) and gap < _MAX_SEPARATOR:
            gap += 1
            pos -= 1
        if pos < 0 or not (text[pos].isascii() and text[pos].isalpha()):
            return None
    return pos


def iban_starts(text: str) -> list[int]:
    """Every place in ``text`` where an IBAN's country could start (check digits after it).

    ASCII text is searched backwards as its byte classes (see ``_CLASSES``): from the digits, which
    prose has few of, so sre skips to them; elsewhere each check digit looks back for a country."""
    if text.isascii():
        classes = text.encode("ascii").translate(_CLASSES)[::-1]
        return [len(text) - m.end() for m in _REVERSED_START.finditer(classes)][::-1]
    starts = (country_before(text, m.start()) for m in _CHECK_DIGITS.finditer(text, 2))
    return list(dict.fromkeys(s for s in starts if s is not None))


# A country, then check digits, read backwards in byte classes (D a digit, L a letter, "." other).
_REVERSED_START = re.compile(rb"D\.{0,3}D\.{0,3}L\.{0,3}L")


def loose_iban_key(text: str) -> str | None:
    """The key of a text that is one IBAN written with any separators (``GB29.NWBK.6016...``)."""
    found = iban_at(text, 0) if _IBAN_START.match(text) else None  # skips a text of words at once
    return found[1] if found is not None and len(found[0]) == len(text) else None


_DIGIT_PAIR = re.compile(r"\d\d")
_TWO_LETTERS = re.compile(r"(?i)[a-z]{2}")
# What the IBAN scans of a text need at their start (``_IBAN``'s, and :func:`iban_starts`').
_IBAN_HINT = re.compile(r"(?i:[a-z]{2}\d\d)|" + _IBAN_START.pattern)


# Each byte as its class for iban_hint's ASCII path: L an ASCII letter, D a digit, "." anything else.
_CLASSES = bytes(
    ord("L") if chr(i).isascii() and chr(i).isalpha() else ord("D") if chr(i) in "0123456789" else ord(".")
    for i in range(256)
)


def iban_hint(text: str) -> bool:
    r"""``_IBAN_HINT.search(text)``, without sre trying every position.

    In ASCII text ``(?i)[a-z]`` is an ASCII letter and ``\d`` a digit 0-9, so the text's bytes mapped
    to their classes (one C pass) hold ``LLDD`` where the common spelling (``GB29``) is, and a text
    without ``D`` has no digit. Elsewhere it is found from the digits: prose has few digits and
    many letters, and a case-insensitive class makes sre try every letter. Digit pairs do not
    overlap, but the pair right after two letters cannot be cut, since a letter precedes its first
    digit. Check digits written apart from their country (``GB 29``) are looked for last."""
    if text.isascii():
        # find, not ``in``: bytes ``in`` first tries its operand as an int and raises and clears a TypeError
        classes = text.encode("ascii").translate(_CLASSES)
        if classes.find(b"LLDD") >= 0:
            return True
        if classes.find(b"D") < 0:
            return False
        size = len(text)  # the starts written apart, as below, found backwards in the classes
        for m in _REVERSED_START.finditer(classes[::-1]):  # a loop: no generator frame per start
            if _country_at(text, size - m.end()) in _IBAN_LENGTHS:
                return True
        return False
    if any(_TWO_LETTERS.match(text, m.start() - 2) for m in _DIGIT_PAIR.finditer(text, 2)):
        return True
    starts = (country_before(text, m.start()) for m in _CHECK_DIGITS.finditer(text, 2))
    # Written apart ("Q3 2024", "Regards #12" look alike to the classes): only an IBAN country counts,
    # as iban_at requires one; prose then skips the scans of the text for IBANs.
    return any(start is not None and _country_at(text, start) in _IBAN_LENGTHS for start in starts)


def _country_at(text: str, start: int) -> str | None:
    """The country code written at ``start`` (two ASCII letters, up to three separators between)."""
    country = _COUNTRY.match(text, start)
    return None if country is None else (country.group()[0] + country.group()[-1]).upper()


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
