"""Secret and PII detectors, shared by policy conditions and audit redaction.

These are heuristics for flagging data, never a security boundary on their own: a policy
uses them to *raise* the bar (ask or deny when an outbound call carries a key), and the audit
log uses them to keep keys out of the record.

Every pattern runs on RE2 (``google-re2``), whose time is linear in the input: no argument, however
crafted, makes a decision or an audit record slow. Keys are found where they are glued to other
text (``xAKIA...``, ``DB_PASSWORD=...``, inside JSON, URLs and headers) and, for secrets, also in
the common encodings an agent may pass them in: percent-encoding, base64 (standard or URL-safe,
of a whole argument or of any run inside it, wrapped or not) and hex.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import re2

from agentguard._decoded import OPTIONS as _OPTS
from agentguard._decoded import encoded_views as _encoded_views
from agentguard._secret_names import is_sensitive_key
from agentguard._secret_shapes import DETECTORS as _DETECTORS
from agentguard._secret_shapes import Category, _Detector

__all__ = [
    "Category",
    "Finding",
    "contains",
    "is_sensitive_key",
    "iter_strings",
    "redact_text",
    "scan",
    "without_cut_token",
]


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    category: Category
    start: int
    end: int


def _set(category: Category) -> tuple[Any, tuple[_Detector, ...]]:
    """One RE2 set per category: a single linear pass says which detectors match anywhere."""
    members = tuple(d for d in _DETECTORS if d.category == category)
    matcher = re2.Set.SearchSet(_OPTS)
    for d in members:
        matcher.Add(d.regex.pattern)
    matcher.Compile()
    return matcher, members


_SETS: dict[str, tuple[Any, tuple[_Detector, ...]]] = {c: _set(c) for c in ("secret", "pii")}


def _ascii(text: str) -> bytes:
    """``text`` as one byte per character: what the patterns (all ASCII) see, offsets unchanged."""
    return text.encode("ascii", "replace") if not text.isascii() else text.encode("ascii")


def _spans(d: _Detector, text: str, data: bytes) -> Iterator[tuple[int, int, bytes]]:
    if d.bounded is not None:
        for m in d.bounded.finditer(text):
            yield m.start(), m.end(), data[m.start() : m.end()]
    else:
        for m in d.regex.finditer(data):
            yield m.start(), m.end(), m.group()


def _hits(text: str, data: bytes, category: Category) -> Iterator[tuple[_Detector, int, int]]:
    """Detector hits in ``text`` (``data`` is its :func:`_ascii` form), validated, detector by detector."""
    matcher, members = _SETS[category]
    found = matcher.Match(data)
    if not found:
        return
    for index in sorted(found):
        d = members[index]
        for start, end, raw in _spans(d, text, data):
            if d.check is None or d.check(raw):
                yield d, start, end


# A validated kind (cards, IBANs...) costs a check per candidate: past this many failed candidates
# in one string, the string counts as holding the kind ("cannot tell" is not "clean").
MAX_CANDIDATES = 4096


def _validated(d: _Detector, data: bytes) -> bool:
    check = d.check
    if check is None:
        return True
    for n, m in enumerate(_spans(d, data.decode("latin-1"), data)):
        if n >= MAX_CANDIDATES or check(m[2]):
            return True
    return False


def _kinds_in(data: bytes, category: Category, wanted: frozenset[str] | None) -> frozenset[str]:
    matcher, members = _SETS[category]
    found = matcher.Match(data)
    if not found:
        return frozenset()
    kinds: set[str] = set()
    for index in found:
        d = members[index]
        if (wanted is not None and d.kind not in wanted) or d.kind in kinds:
            continue
        if _validated(d, data):
            kinds.add(d.kind)
    return frozenset(kinds)


def _encoded_secret(data: bytes) -> bool:
    return any(_kinds_in(view, "secret", None) for view in _encoded_views(data))


# ---------------------------------------------------------------- public API


def scan(text: str, categories: Iterable[Category] = ("secret", "pii")) -> list[Finding]:
    """All detector hits in ``text`` as written (not in decoded views), in order of position."""
    data = _ascii(text)
    found = [
        Finding(d.kind, d.category, start, end)
        for category in dict.fromkeys(categories)
        for d, start, end in _hits(text, data, category)
    ]
    found.sort(key=lambda f: (f.start, -f.end))
    return found


# Lower-case hex shorter than a hex-encoded key (call ids, short digests) holds no secret any
# detector knows: one cheap check instead of a scan on every audit record.
_SHORT_HEX = frozenset("0123456789abcdef")


def _no_secret_uncached(text: str) -> bool:
    """Whether ``text`` settles as holding no secret in two passes: no detector of the set matches
    it at all, and none matches its decoded views."""
    data = _ascii(text)
    return not _SETS["secret"][0].Match(data) and not _encoded_secret(data)


_CACHED_CHARS = 512
# The audit log's redaction and the session's marks both ask this of the same short texts (a call's
# argument is redacted in its records, then read again in a result that echoes it): one scan.
_no_secret_cached = functools.lru_cache(maxsize=16384)(_no_secret_uncached)


def _no_secret(text: str) -> bool:
    return _no_secret_cached(text) if len(text) <= _CACHED_CHARS else _no_secret_uncached(text)


def _kinds_uncached(text: str, category: Category) -> frozenset[str]:
    if category == "secret" and len(text) < 32 and _SHORT_HEX.issuperset(text):
        return frozenset()
    if category == "secret" and len(text) <= _CACHED_CHARS and _no_secret_cached(text):
        return frozenset()  # settled already (a redacted text): what _kinds_in and _encoded_secret find
    data = _ascii(text)
    kinds = _kinds_in(data, category, None)
    if category == "secret" and not kinds and _encoded_secret(data):
        return frozenset({"encoded_secret"})
    return kinds


# Argument names and short values repeat from call to call; strings are immutable, so a hit list is too.
_kinds_cached = functools.lru_cache(maxsize=16384)(_kinds_uncached)


def _kinds(text: str, category: Category) -> frozenset[str]:
    return _kinds_cached(text, category) if len(text) <= _CACHED_CHARS else _kinds_uncached(text, category)


_COLLECTIONS = (list, tuple, set, frozenset)  # a tuple: isinstance with ``a | b`` builds a union per call
# Values that hold no string: skipped without the ABC checks below (a result's flags and numbers).
_NO_STRINGS = frozenset({int, float, bool, type(None)})


def iter_strings(value: Any) -> Iterator[str]:
    """Every string inside a nested structure of mappings and sequences (keys included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if type(k) is str:  # plain strings and scalars inline: no generator per leaf
                yield k
            elif type(k) not in _NO_STRINGS:
                yield from iter_strings(k)
            if type(v) is str:
                yield v
            elif type(v) not in _NO_STRINGS:
                yield from iter_strings(v)
    elif isinstance(value, _COLLECTIONS):
        for item in value:
            if type(item) is str:
                yield item
            elif type(item) not in _NO_STRINGS:
                yield from iter_strings(item)


def _flat_strings(value: Any) -> list[str] | None:
    """``iter_strings`` of a dict of strings and scalars (a call's usual arguments), as a list: no
    generator to resume per string. ``None`` (or an empty list) for anything else."""
    if type(value) is not dict:
        return None
    out: list[str] = []
    for k, v in value.items():
        if type(k) is not str:
            return None
        out.append(k)
        if type(v) is str:
            out.append(v)
        elif type(v) not in _NO_STRINGS:
            return None
    return out


_BOTH: list[Category] = ["secret", "pii"]


def _both(text: str) -> frozenset[Category]:
    return frozenset(c for c in _BOTH if _kinds(text, c))


_both_cached = functools.lru_cache(maxsize=16384)(_both)


def categories_in(value: Any, categories: Iterable[Category] = ("secret", "pii")) -> set[Category]:
    """Which of ``categories`` have a hit somewhere inside ``value``: ``contains`` for each, in one
    walk over the strings (a tool result is read once for the session's marks, not once per mark)."""
    wanted = list(categories)
    found: set[Category] = set()
    if wanted == _BOTH:  # the session's marks: one cached answer per string for both categories
        for text in iter_strings(value):
            found |= _both_cached(text) if len(text) <= _CACHED_CHARS else _both(text)
            if len(found) == 2:
                break
        return found
    for text in iter_strings(value):
        for category in wanted:
            if category not in found and _kinds(text, category):
                found.add(category)
        if len(found) == len(wanted):
            break
    return found


def contains(value: Any, category: Category, kinds: Iterable[str] | None = None) -> bool:
    """Whether any string inside ``value`` has a hit of ``category`` (optionally only ``kinds``).

    For secrets, a key found only in a decoded view (percent, base64, hex) counts as the kind
    ``encoded_secret``, and counts for any ``kinds`` filter: its own kind is not worth a second scan.
    """
    wanted = frozenset(kinds) if kinds is not None else None
    for text in _flat_strings(value) or iter_strings(value):
        found = _kinds(text, category)
        if found and (wanted is None or "encoded_secret" in found or not found.isdisjoint(wanted)):
            return True
    return False


_SEPARATORS = str.maketrans("\t\n\r\f\v\"'", "       ")


def _token_spans(text: str) -> list[tuple[int, int]]:
    """Runs of characters that can belong to one encoded value (split at whitespace and quotes)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for piece in text.translate(_SEPARATORS).split(" "):
        if piece:
            spans.append((start, start + len(piece)))
        start += len(piece) + 1
    return spans


def _localise(text: str, spans: list[tuple[int, int]], lo: int, hi: int, out: list[tuple[int, int]]) -> None:
    """Narrow an encoded hit in ``spans[lo:hi]`` down to the tokens that hold it (bisection).

    When a key only shows across a split (a base64 value wrapped over two lines), the whole range
    holding it is redacted: never less than what carries the key.
    """
    if hi - lo == 1:
        out.append(spans[lo])
        return
    mid = (lo + hi) // 2
    left = _encoded_secret(_ascii(text[spans[lo][0] : spans[mid - 1][1]]))
    right = _encoded_secret(_ascii(text[spans[mid][0] : spans[hi - 1][1]]))
    if left:
        _localise(text, spans, lo, mid, out)
    if right:
        _localise(text, spans, mid, hi, out)
    if not left and not right:
        out.append((spans[lo][0], spans[hi - 1][1]))


def _replace(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    out: list[str] = []
    pos = 0
    for start, end, kind in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start < pos:
            continue
        out.append(text[pos:start])
        out.append(f"[REDACTED:{kind}]")
        pos = end
    out.append(text[pos:])
    return "".join(out)


# What ends a token: a secret (key, token, password, card number without spaces) holds none of these.
_TOKEN_ENDS = frozenset(" \t\n\r\f\v\"'`,;<>()[]{}")
_CUT_TOKEN_CHARS = 4096  # the most of a token at the cut that is dropped (a JWT, a long key)


def without_cut_token(text: str) -> str:
    """``text`` that a size limit cut, without the token the cut went through (at most 4096 chars).

    Results are redacted after the cut, and the start of a secret is no secret a detector recognises
    (too short, its checksum gone): left in, it reaches the model. A private-key block cut in its body
    is still found (the detector takes a block that runs to the end of the text)."""
    end = len(text)
    stop = max(0, end - _CUT_TOKEN_CHARS)
    start = end
    while start > stop and text[start - 1] not in _TOKEN_ENDS:
        start -= 1
    return text[:start]


def redact_text(text: str, categories: Iterable[Category] = ("secret",)) -> str:
    """``text`` with each detector hit replaced by ``[REDACTED:kind]``.

    Secrets found only in a decoded view replace the token(s) that carry them with
    ``[REDACTED:encoded_secret]``.
    """
    cats = tuple(dict.fromkeys(categories))
    if cats == ("secret",) and _no_secret(text):  # the audit log's case: most texts hold nothing
        return text
    return _redact_found(text, cats)


def _redact_found(text: str, cats: tuple[Category, ...]) -> str:
    """:func:`redact_text` without its shortcut for a text that holds no secret."""
    if "secret" in cats:  # kinds found that need no check are replaced in one C-level pass each
        matcher, members = _SETS["secret"]
        for index in matcher.Match(_ascii(text)) or ():
            d = members[index]
            if d.bounded is not None and d.check is None:
                text = d.bounded.sub(f"[REDACTED:{d.kind}]", text)
    findings = scan(text, cats)
    if findings:
        text = _replace(text, ((f.start, f.end, f.kind) for f in findings))
    if "secret" in cats and _encoded_secret(_ascii(text)):
        spans = _token_spans(text)
        hits: list[tuple[int, int]] = []
        if spans:
            _localise(text, spans, 0, len(spans), hits)
        text = _replace(text, ((start, end, "encoded_secret") for start, end in hits))
    return text
