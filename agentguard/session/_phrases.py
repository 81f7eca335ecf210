"""Copied phrases: does a text argument hold a run of words copied out of untrusted output?

Values (URLs, addresses, IBANs) are found inside text by the value index; free text copied from a
review or a page has no such value in it. This index reads text as a sequence of *words* and keeps:

- a *shingle* for every run of ``SHINGLE`` consecutive words of untrusted text (the hash of the
  word tuple, with the first source it was seen in);
- every short *segment* of untrusted text (2 to ``SHINGLE - 1`` words, two of them more than a
  number, between line breaks, sentence ends or quotes: a title, a quoted phrase), whole;
- every run of 2 to ``SHINGLE`` words of trusted text (the user's request, vouched values, trusted
  output fields), so a phrase a trusted source also holds does not count.

Words are compared in a folded form: Unicode NFKD with combining marks dropped (``Café`` is
``cafe``), invisible characters removed, case folded, common Cyrillic and Greek look-alikes of Latin
letters read as the Latin letter, and any run of punctuation or white space is one word break.
Building costs time linear in the text read (``SHINGLE`` is a constant); it happens only when a
condition asks (``copied``), so a session whose policy never asks pays one list append per text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from agentguard.session._index import TRUSTED_ANY, UNTRUSTED
from agentguard.session._normal import _IGNORABLE

__all__ = ["SHINGLE", "PhraseIndex", "phrase_words"]

# Consecutive words that make a copy. Measured on AgentDojo's four suites (docs/provenance.md,
# "Copied phrases"): benign calls copy at most 4 words of untrusted-only text in a row, attacks 6+.
SHINGLE = 5
_MIN_SEGMENT = 2  # a one-word line ("Thanks!", "Great") is any text's word, not a phrase

# Lower-case Cyrillic and Greek letters drawn like a Latin one (after case folding: Cyrillic ``В``,
# ``Н``, ``М``, ``Т``, ``К`` fold to the letters below), and typographic quotes.
_LOOKALIKES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "һ": "h",
        "н": "h",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "к": "k",
        "ӏ": "l",
        "м": "m",
        "о": "o",
        "р": "p",
        "ԛ": "q",
        "ѕ": "s",
        "т": "t",
        "у": "y",
        "х": "x",
        "с": "c",
        "ԁ": "d",
        "ԝ": "w",
        "ɡ": "g",
        "ı": "i",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "\u2018": "'",
        "\u2019": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00ab": '"',
        "\u00bb": '"',
    }
)
_WORD = re.compile(r"[^\W_]+")
# Where a segment ends: line breaks, quotes and brackets; a sentence or clause end only before a
# space or the end (``mark.davies@hotmail.com``, ``98.70`` and ``2024-05-20`` are not split); an
# apostrophe only when it is not between two letters (``'Booking a room'`` is quoted, ``L'Ami`` is not).
_BREAK = re.compile(r"[\n\r\u2028\u2029\"()\[\]{}<>|\u3002]+|[.!?;:]+(?=\s|$)|'(?!\w)|(?<!\w)'")


def _fold(text: str) -> str:
    """The folded form words are compared in (see the module's docstring)."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if ch not in _IGNORABLE and unicodedata.category(ch) not in ("Mn", "Cf"))
    return text.casefold().translate(_LOOKALIKES)


def phrase_words(text: str) -> list[str]:
    """The words of ``text``, folded: ``B\u200booking a ROOM!`` is ``['booking', 'a', 'room']``."""
    return _WORD.findall(_fold(text))


def _is_short(words: tuple[str, ...]) -> bool:
    """A short phrase: under ``SHINGLE`` words, at least two of them more than a number (a date
    such as ``2024-05-20`` or an id is three numbers, not a phrase)."""
    return len(words) < SHINGLE and sum(not word.isdigit() for word in words) >= _MIN_SEGMENT


def _segments(folded: str) -> Iterator[tuple[str, ...]]:
    for part in _BREAK.split(folded):
        words = tuple(_WORD.findall(part))
        if _is_short(words):
            yield words


class PhraseIndex:
    """Shingles and segments of one session's texts, built from the pending texts when asked."""

    def __init__(self) -> None:
        self._pending: list[tuple[str, int, int]] = []  # (text, source, mask) not yet read
        self._shingles: dict[int, int] = {}  # hash of SHINGLE untrusted words -> first source
        self._segments: dict[int, int] = {}  # hash of a short untrusted segment -> first source
        self._trusted: set[int] = set()  # hashes of every run of 2..SHINGLE trusted words

    def note(self, text: str, source: int, mask: int) -> None:
        """Remember ``text`` (seen in ``source`` with trust ``mask``); read when a condition asks."""
        self._pending.append((text, source, mask))

    def _build(self) -> None:
        pending, self._pending = self._pending, []
        for text, source, mask in pending:
            folded = _fold(text)
            words = _WORD.findall(folded)
            if mask & UNTRUSTED:
                shingles = self._shingles
                for i in range(len(words) - SHINGLE + 1):
                    shingles.setdefault(hash(tuple(words[i : i + SHINGLE])), source)
                for segment in _segments(folded):
                    self._segments.setdefault(hash(segment), source)
            if mask & TRUSTED_ANY:
                trusted = self._trusted
                count = len(words)
                for size in range(_MIN_SEGMENT, SHINGLE + 1):
                    for i in range(count - size + 1):
                        trusted.add(hash(tuple(words[i : i + size])))

    def copied(self, text: str) -> tuple[str, int] | None:
        """The first phrase of ``text`` copied from untrusted text and held by no trusted source, with
        the source it was first seen in: ``SHINGLE`` words in a row, or a whole short segment of
        ``text`` (2 to ``SHINGLE - 1`` words) that is a whole segment of untrusted text. None if none."""
        if self._pending:
            self._build()
        if not self._shingles and not self._segments:
            return None
        folded = _fold(text)
        words = _WORD.findall(folded)
        trusted = self._trusted
        shingles = self._shingles
        for i in range(len(words) - SHINGLE + 1):
            run = tuple(words[i : i + SHINGLE])
            key = hash(run)
            source = shingles.get(key)
            if source is not None and key not in trusted:
                return " ".join(run), source
        segments = self._segments
        whole = tuple(words)
        candidates = [whole] if _is_short(whole) else []
        for segment in (*candidates, *_segments(folded)):
            key = hash(segment)
            source = segments.get(key)
            if source is not None and key not in trusted:
                return " ".join(segment), source
        return None
