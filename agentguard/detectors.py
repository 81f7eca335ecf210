"""Secret and PII detectors, shared by policy conditions and audit redaction.

These are heuristics for flagging data, never a security boundary on their own: a policy
uses them to *raise* the bar (ask or deny when an outbound call carries a key), and the audit
log uses them to keep keys out of the record.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Category",
    "Finding",
    "contains",
    "is_sensitive_key",
    "iter_strings",
    "redact_text",
    "scan",
]

Category = Literal["secret", "pii"]


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    category: Category
    start: int
    end: int


_SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private_key",
        re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[^-]*-----|$)"),
    ),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})\b")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("stripe_key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b")),
    ("openai_key", re.compile(r"\bsk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,}")),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("bearer_token", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{20,}=*")),
    (
        "assigned_secret",
        re.compile(
            r"(?i)\b(?:api[_-]?key|secret[_-]?key|client[_-]?secret|access[_-]?token|auth[_-]?token|password|passwd)"
            r"\s*[:=]\s*['\"]?[^\s'\"]{8,}"
        ),
    ),
)

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")

_SENSITIVE_KEY = re.compile(
    r"(?i)^(?:.*[_-])?(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|client[_-]?secret|authorization|auth|credentials?|cookie|session[_-]?id)$"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _alternation(patterns: Iterable[re.Pattern[str]]) -> re.Pattern[str]:
    """One regex that matches wherever any of ``patterns`` does: a single pass rules out a clean string."""
    parts = []
    for pattern in patterns:
        source = pattern.pattern
        if source.startswith("(?i)"):
            source = f"(?i:{source[4:]})"
        elif pattern.flags & re.IGNORECASE:
            source = f"(?i:{source})"
        parts.append(f"(?:{source})")
    return re.compile("|".join(parts))


# Most strings are clean; without this, each category cost one finditer per detector.
_ANY: dict[str, re.Pattern[str]] = {
    "secret": _alternation(p for _, p in _SECRET_PATTERNS),
    "pii": _alternation((_EMAIL, _SSN, _CARD, _IBAN)),
}


# Lower-case hex (call ids, digests) can hold no secret any detector knows: checked in one short pass,
# where the alternation above costs a microsecond or two per string on every audit record.
_HEX = re.compile(r"[0-9a-f]*")


def _may_match(text: str, category: Category) -> bool:
    if category == "secret" and _HEX.fullmatch(text) is not None:
        return False
    return _ANY[category].search(text) is not None


def scan(text: str, categories: Iterable[Category] = ("secret", "pii")) -> list[Finding]:
    """All detector hits in ``text``, in order of position."""
    cats = frozenset(c for c in categories if _may_match(text, c))
    found: list[Finding] = []
    if "secret" in cats:
        for kind, pattern in _SECRET_PATTERNS:
            found.extend(Finding(kind, "secret", m.start(), m.end()) for m in pattern.finditer(text))
    if "pii" in cats:
        found.extend(Finding("email", "pii", m.start(), m.end()) for m in _EMAIL.finditer(text))
        found.extend(Finding("ssn", "pii", m.start(), m.end()) for m in _SSN.finditer(text))
        for m in _CARD.finditer(text):
            digits = re.sub(r"[ -]", "", m.group())
            if 13 <= len(digits) <= 19 and _luhn(digits):
                found.append(Finding("credit_card", "pii", m.start(), m.end()))
        found.extend(
            Finding("iban", "pii", m.start(), m.end()) for m in _IBAN.finditer(text) if _iban_ok(m.group())
        )
    found.sort(key=lambda f: (f.start, -f.end))
    return found


_CACHED_CHARS = 512


def _kinds_uncached(text: str, category: Category) -> frozenset[str]:
    return frozenset(f.kind for f in scan(text, (category,)))


# Argument names and short values repeat from call to call; strings are immutable, so a hit list is too.
_kinds_cached = functools.lru_cache(maxsize=16384)(_kinds_uncached)


def _kinds(text: str, category: Category) -> frozenset[str]:
    return _kinds_cached(text, category) if len(text) <= _CACHED_CHARS else _kinds_uncached(text, category)


def iter_strings(value: Any) -> Iterator[str]:
    """Every string inside a nested structure of mappings and sequences (keys included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from iter_strings(k)
            yield from iter_strings(v)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from iter_strings(item)


def contains(value: Any, category: Category, kinds: Iterable[str] | None = None) -> bool:
    """Whether any string inside ``value`` has a hit of ``category`` (optionally only ``kinds``)."""
    wanted = frozenset(kinds) if kinds is not None else None
    for text in iter_strings(value):
        found = _kinds(text, category)
        if found and (wanted is None or not found.isdisjoint(wanted)):
            return True
    return False


def is_sensitive_key(key: str) -> bool:
    """Whether an argument or field name (``password``, ``api_key``, ``x-auth-token``...) holds a secret."""
    return bool(_SENSITIVE_KEY.match(key))


def redact_text(text: str, categories: Iterable[Category] = ("secret",)) -> str:
    """``text`` with each detector hit replaced by ``[REDACTED:kind]``."""
    findings = scan(text, categories)
    if not findings:
        return text
    out: list[str] = []
    pos = 0
    for f in findings:
        if f.start < pos:
            continue
        out.append(text[pos : f.start])
        out.append(f"[REDACTED:{f.kind}]")
        pos = f.end
    out.append(text[pos:])
    return "".join(out)
