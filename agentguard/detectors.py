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

import binascii
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import re2

from agentguard._decoded import OPTIONS as _OPTS
from agentguard._decoded import compile_latin1 as _compile
from agentguard._decoded import encoded_views as _encoded_views

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

Category = Literal["secret", "pii"]


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    category: Category
    start: int
    end: int


# ---------------------------------------------------------------- validators (run on each candidate)


_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")  # each digit doubled, digits of the result summed


def _luhn(digits: bytes) -> bool:
    rev = digits[::-1]
    return (sum(rev[0::2]) + sum(rev[1::2].translate(_DOUBLED)) - 48 * len(digits)) % 10 == 0


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


def _card_ok(match: bytes) -> bool:
    digits = match.translate(None, b" -")
    return 13 <= len(digits) <= 19 and _luhn(digits)


def _ssn_ok(match: bytes) -> bool:
    area, group, serial = match.split(b"-")
    return area not in (b"000", b"666") and not area.startswith(b"9") and group != b"00" and serial != b"0000"


def _openai_ok(match: bytes) -> bool:
    # A bare "sk-" is common in ids and prose ("disk-...", "task-..."): it counts only when no letter
    # or digit is glued before it (the pattern sees to that) and its body mixes letters and digits,
    # as random keys do. Prefixed keys (sk-proj-..., sk-ant-...) need neither.
    body = match[match.index(b"sk-") + 3 :]
    if b"-" in body:
        return True
    digits = body.translate(None, b"0123456789")
    return digits != body and bool(digits)


def _assigned_ok(match: bytes) -> bool:
    cut = min(i for i in (match.find(b":"), match.find(b"=")) if i >= 0)
    value = match[cut + 1 :].strip(b" \t\r\n\f\v'\"")
    return not value.isdigit()  # "max_tokens: 100000000" is a number, not a secret


def _basic_ok(match: bytes) -> bool:
    token = match.split()[-1]
    try:
        return b":" in binascii.a2b_base64(token + b"=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return False


@dataclass(frozen=True, slots=True)
class _Detector:
    kind: str
    category: Category
    regex: Any  # re2._Regexp
    check: Callable[[bytes], bool] | None = None
    # For patterns whose matches have a bounded length, Python's engine does bounded work at each
    # position (so it is linear too) and costs a tenth of RE2 per match: it lists the matches once
    # the RE2 set has said there are some. Unbounded patterns are only ever run by RE2.
    bounded: re.Pattern[str] | None = None


def _d(
    kind: str,
    category: Category,
    pattern: str,
    check: Callable[[bytes], bool] | None = None,
    *,
    bounded: bool = False,
) -> _Detector:
    return _Detector(
        kind, category, _compile(pattern), check, re.compile(pattern, re.ASCII) if bounded else None
    )


# A PEM private key: what a key's text can hold, not whatever lies between a header and the next
# "-----END": an agent that wrote the header line before a command had the command audited as
# [REDACTED:private_key] (red team). Between the lines: whitespace or escaped newlines (a backslash
# and n, as in JSON or .env text); RFC 1421 headers (Proc-Type, DEK-Info); base64 runs of 16 or
# more; and a shorter last run only where the footer or the end of the text follows it.
_PEM_LABEL = r"(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?"
# Lines are also taken apart by what a tool shows around them: line numbers (``cat -n``, an editor's
# "12→"), quotes and commas (a JSON list of lines, string literals), quoting marks (``> ``, ``# ``),
# ``<br>``, ``&#10;``; a non-ASCII separator (U+2028) is a "?" here. PGP armour: Version/Comment
# headers and a "=" checksum line.
_PEM_SEP = r"(?:\s|\\+[nrt]|[\"',>#?]|<br\s*/?>|&#1[03];|[0-9]{1,9}[\t:|?])*"
_PEM_END = rf"{_PEM_SEP}-----END {_PEM_LABEL}-----"
_PEM_KEY = (
    rf"-----BEGIN {_PEM_LABEL}-----"
    rf"(?:{_PEM_SEP}(?:(?:Proc-Type|DEK-Info):[ \t]*[A-Za-z0-9,+/=._-]+"
    r"|(?:Version|Comment|Hash|Charset):[ \t]*[A-Za-z0-9,+/=._()-]+(?:[ \t][A-Za-z0-9,+/=._()-]+){0,8}))*"
    rf"(?:{_PEM_SEP}[A-Za-z0-9+/]{{16,}}={{0,2}})*"
    rf"(?:{_PEM_SEP}=?[A-Za-z0-9+/]{{1,15}}={{0,2}}(?:{_PEM_END}|{_PEM_SEP}$)|{_PEM_END})?"
)

# No word boundaries before the distinctive prefixes: "xAKIA..." or "DB_PASSWORD=" must not hide a key.
_DETECTORS: tuple[_Detector, ...] = (
    _d("private_key", "secret", _PEM_KEY),
    _d(
        "aws_access_key",
        "secret",
        r"(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[0-9A-Z]{16}",
        bounded=True,
    ),
    _d("github_token", "secret", r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}"),
    _d("slack_token", "secret", r"xox[abposr]-[A-Za-z0-9-]{10,}"),
    _d("gitlab_token", "secret", r"gl(?:pat|dt|rt|ptt|cbt|oas)-[A-Za-z0-9_-]{20,}"),
    _d("npm_token", "secret", r"npm_[A-Za-z0-9]{36}"),
    _d("huggingface_token", "secret", r"hf_[A-Za-z0-9]{34,}"),
    _d("azure_storage_key", "secret", r"(?i)accountkey\s*=\s*[A-Za-z0-9+/]{40,}={0,2}"),
    _d("stripe_key", "secret", r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    _d(
        "openai_key",
        "secret",
        r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|sk-ant-(?:api\d\d-)?[A-Za-z0-9_-]{20,}"
        r"|(?:^|[^A-Za-z0-9])sk-[A-Za-z0-9]{20,}",
        _openai_ok,
    ),
    _d("google_api_key", "secret", r"AIza[0-9A-Za-z_-]{35}", bounded=True),
    _d("jwt", "secret", r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    _d("bearer_token", "secret", r"(?i)bearer\s+[A-Za-z0-9._~+/-]{20,}=*"),
    _d("basic_auth", "secret", r"(?i)basic\s+[A-Za-z0-9+/]{8,}={0,2}", _basic_ok),
    # A URL's user:password@ (a DSN, a clone URL): from "://" up to the "@", so the host stays. The
    # userinfo ends at its last "@" (a parser's split: "pa@ss" is one password); "\/" as JSON escapes.
    _d(
        "url_credentials",
        "secret",
        r":(?:\\?/){2}[^\s/?#:'\"<>\\]{0,256}:[^\s/?#'\"<>\\]{1,256}@",
    ),
    _d(
        "assigned_secret",
        "secret",
        r"(?i)(?:api[_-]?key|apikey|secret|passw(?:or)?d|passphrase|access[_-]?key|private[_-]?key|"
        r"(?:auth|access|refresh|session|bearer|api|[_-])[_-]?token|(?:^|[^a-z0-9])token)"
        r"(?:[_-]?[a-z0-9]){0,24}['\"]?\s*[:=]\s*['\"]?[^\s'\"]{8,}",
        _assigned_ok,
    ),
    _d("email", "pii", r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    _d("ssn", "pii", r"\b\d{3}-\d{2}-\d{4}\b", _ssn_ok, bounded=True),
    _d("credit_card", "pii", r"\b\d(?:[ -]?\d){12,18}\b", _card_ok, bounded=True),
    _d(
        "iban",
        "pii",
        r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b",
        lambda m: _iban_ok(m.decode("ascii")),
        bounded=True,
    ),
)


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


_SENSITIVE_KEY = _compile(
    r"(?i)(?:.*[_-])?(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|client[_-]?secret|authorization|auth|credentials?|cookie|session[_-]?id)"
)
# A field name as words, however it is spelled: snake_case, kebab-case, camelCase, ACRONYMKey.
_KEY_WORDS = _compile(r"[A-Z]+[a-z]*|[a-z]+|[0-9]+")
# The last word alone names a secret ("dbPassword", "MYSQL_PWD", "authToken", "user.secrets").
_SECRET_LAST_WORDS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "passcode",
        "pwd",
        "secret",
        "secrets",
        "token",
        "credential",
        "credentials",
        "cookie",
        "cookies",
        "authorization",
        "auth",
        "apikey",
        "jwt",
        "otp",
        "totp",
    }
)
# ... or glued to a prefix in one word ("PGPASSWORD", "DJANGOSECRET", "xsrftoken"); "max_tokens" is not.
_SECRET_SUFFIXES = ("password", "passwd", "passphrase", "secret", "token", "apikey")
# "key", "id" and "string" name a secret only after these ("SECRET_KEY", "accountKey", "sessionId").
_SECRET_PAIRS = {
    "key": frozenset(
        {
            "api",
            "access",
            "private",
            "secret",
            "account",
            "signing",
            "encryption",
            "master",
            "client",
            "ssh",
            "gpg",
            "pgp",
            "session",
            "storage",
            "license",
            "shared",
            "hmac",
        }
    ),
    "id": frozenset({"session"}),
    "string": frozenset({"connection"}),
}


def _key_words(key: str) -> list[str]:
    words: list[str] = []
    for token in _KEY_WORDS.findall(_ascii(key)):
        word = token.decode("ascii")
        capitals = len(word) - len(word.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        if 1 < capitals < len(word):  # "AWSSecret", "APIKey": the last capital starts the next word
            words.append(word[: capitals - 1].lower())
            word = word[capitals - 1 :]
        words.append(word.lower())
    return words


def is_sensitive_key(key: str) -> bool:
    """Whether an argument or field name (``password``, ``api_key``, ``dbPassword``, ``SECRET_KEY``,
    ``PGPASSWORD``...) holds a secret: the audit log redacts such a field's value whatever it looks like."""
    if _SENSITIVE_KEY.fullmatch(_ascii(key)) is not None:
        return True
    words = _key_words(key)
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_LAST_WORDS or last.endswith(_SECRET_SUFFIXES):
        return True
    before = _SECRET_PAIRS.get(last)
    return before is not None and len(words) > 1 and words[-2] in before


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
