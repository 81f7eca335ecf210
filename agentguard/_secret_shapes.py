"""The shapes the detectors look for: one pattern per kind of secret or PII, and the check a candidate
must pass (Luhn, IBAN, ...). A table apart from the scanning (``detectors``), so it reads whole."""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from agentguard._decoded import compile_latin1 as _compile

Category = Literal["secret", "pii"]


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
DETECTORS: tuple[_Detector, ...] = (
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
