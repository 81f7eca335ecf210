"""Globs for ``glob()`` and ``path()``, matched by RE2 in time linear in the value.

The semantics are wcmatch's with ``GLOBSTAR | DOTGLOB | BRACE`` (what these conditions always used,
and what the differential tests compare against), but wcmatch compiles to Python's backtracking
engine, where a pattern with a few ``**`` segments takes exponential time on a crafted value
(``a/**/a/**/a/**/b`` against ``a/a/a/.../x``: seconds at 200 characters). Here each brace expansion is
translated to one RE2 expression instead. wcmatch's lookarounds (a wildcard never matches a ``.`` or
``..`` segment; a segment starting with ``*`` is not empty) become plain RE2: ``.`` and ``..`` segments
of the value are swapped for private-use sentinel characters that no wildcard matches.

- ``*`` any characters but ``/``; ``?`` one; ``[abc]``, ``[!abc]``, ``[[:alpha:]]`` classes (never ``/``)
- ``**`` as a whole segment: any number of segments (none of them ``.`` or ``..``)
- ``{a,b}``, ``{1..3}`` brace expansion (at most 1,000 expansions); ``\\x`` a literal ``x``
- runs of ``/`` count as one; a trailing ``/`` in the value is ignored
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

import bracex
import re2

from agentguard.policy._regex_match import whole_match

__all__ = ["Glob", "GlobError"]

MAX_EXPANSIONS = 1000
_DOT, _DOTDOT, _OTHER = "\ue000", "\ue001", "\ue002"  # sentinels for "." / ".." segments / themselves
_SENTINELS = _DOT + _DOTDOT + _OTHER
_NOT_SEP = "[^/\ue000\ue001]"
_ANY = "[^\ue000\ue001]"
_VALUE_MAP = str.maketrans({_DOT: _OTHER, _DOTDOT: _OTHER})
# The last value ``_subject`` prepared and what it made: a rule's path() checks one resolved path
# against several globs in a row (eight per fs.read under the shipped default).
_last_subject: tuple[str, bytes] = ("", b"")


class GlobError(ValueError):
    """A glob that cannot be compiled."""


def _options() -> re2.Options:
    opts = re2.Options()
    opts.log_errors = False
    return opts


_OPTS = _options()


def _class(segment: str, i: int) -> tuple[str, int] | None:
    """RE2 for the class ``[...]`` at ``segment[i]`` and the index after it; None for a literal ``[``."""
    j = i + 1
    negate = j < len(segment) and segment[j] in "!^"
    if negate:
        j += 1
    start = j
    if j < len(segment) and segment[j] == "]":
        j += 1
    while j < len(segment) and segment[j] != "]":
        end = segment.find(":]", j + 2) if segment.startswith("[:", j) else -1
        j = end + 2 if end >= 0 else j + 2 if segment[j] == "\\" else j + 1
    if j >= len(segment):
        return None
    body = segment[start:j]
    parts: list[str] = []
    k = 0
    while k < len(body):
        end = body.find(":]", k + 2) if body.startswith("[:", k) else -1
        if end >= 0:
            parts.append(body[k : end + 2])
            k = end + 2
            continue
        c = body[k]
        if c == "\\" and k + 1 < len(body):
            c = body[k + 1]
            k += 1
        elif c == "-" and 0 < k < len(body) - 1:
            parts.append("-")
            k += 1
            continue
        parts.append(c if c.isalnum() else "\\" + c)
        k += 1
    inner = "".join(parts)
    if negate:
        return f"[^{inner}/{_DOT}{_DOTDOT}]", j + 1
    cls = f"[{inner}]"
    try:
        probe = re2.compile(cls, _OPTS)
    except re2.error as exc:
        raise GlobError(f"bad class {segment[i : j + 1]!r}: {exc}") from None
    if any(probe.fullmatch(c) is not None for c in "/" + _SENTINELS):
        raise GlobError(
            f"class {segment[i : j + 1]!r} includes '/' or U+E000-U+E002, which it can never match"
        )
    return cls, j + 1


def _segment(segment: str) -> tuple[str, bool]:
    """RE2 for one segment (no ``/`` in it), and whether it starts with a wildcard or class."""
    out: list[str] = []
    i = 0
    wild_start: bool | None = None
    only_stars = True
    while i < len(segment):
        c = segment[i]
        if c == "*":
            if not out or out[-1] != f"{_NOT_SEP}*":
                out.append(f"{_NOT_SEP}*")
            wild = True
            i += 1
        elif c == "?":
            out.append(_NOT_SEP)
            wild, only_stars = True, False
            i += 1
        elif c == "[" and (found := _class(segment, i)) is not None:
            cls, i = found
            # A positive class must not match "/" or a sentinel either.
            out.append(cls)
            wild, only_stars = True, False
        elif c == "\\":
            if i + 1 < len(segment):
                out.append(re2.escape(segment[i + 1]))
            wild, only_stars = False, False
            i += 2
        else:
            out.append(re2.escape(c))
            wild, only_stars = False, False
            i += 1
        if wild_start is None:
            wild_start = wild
    if only_stars and out:
        return f"{_NOT_SEP}+", True
    return "".join(out), bool(wild_start)


def _unescape_slashes(pattern: str) -> str:
    """A dangling ``\\`` at the end is dropped (as wcmatch does); an escaped ``/`` is refused."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 < len(pattern):
                if pattern[i + 1] == "/":
                    raise GlobError("'\\/' in a glob: write '/' (a separator cannot be escaped)")
                out.append(pattern[i : i + 2])
            i += 2
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def _translate(pattern: str) -> str:
    if any(c in _SENTINELS for c in pattern):
        raise GlobError("private-use characters U+E000-U+E002 are not allowed in a glob")
    pattern = _unescape_slashes(pattern)
    leading = pattern.startswith("/")
    trailing = pattern.endswith("/") and pattern.strip("/") != ""
    raw = [s for s in pattern.split("/") if s]
    segs: list[str | None] = []  # None stands for a globstar
    for s in raw:
        if s == "**":
            if not segs or segs[-1] is not None:
                segs.append(None)
        else:
            segs.append(s)
    if not segs:
        return "/+" if leading else ""
    out: list[str] = ["/+" if leading else ""]
    for n, seg in enumerate(segs):
        last = n == len(segs) - 1
        if seg is None:  # any segments; the separator before it is already written
            if not last:
                out.append(f"(?:{_ANY}*/)?")
            elif trailing:  # "x/**/": the value ends with "/"
                out.append(f"{_ANY}*/" if n == 0 and not leading else f"(?:{_ANY}*/)?")
            else:
                out.append(f"{_ANY}*")
            continue
        regex, wild_start = _segment(seg)
        alts = [regex]
        if not wild_start:  # a literal start may match "." or ".." (".*" matches both)
            for literal, sentinel in ((".", _DOT), ("..", _DOTDOT)):
                if re2.fullmatch(regex, literal, _OPTS) is not None:
                    alts.append(sentinel)
        out.append(alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")")
        if not last:
            out.append("/+")
    if segs[-1] is not None:
        out.append("/+" if trailing else "/*")
    return "".join(out)


_UNDER = re.compile(r"(/?)((?:[A-Za-z0-9_.\-]+/+)+)\*\*")  # "/data/svc1/**": everything under a directory
_SLASH_RUNS = re.compile(r"/{2,}")
_CANNOT_FAIL = re.compile(r"[^\[\]{}\\\ue000-\ue002]*")


class Glob:
    """A compiled glob (see the module docstring); ``match`` is a full match of the whole value.

    Compiling costs ~50 us, most of a large policy's load, so it waits for the first ``match`` when
    the pattern cannot fail to compile (no class, brace, escape or private-use character); any other
    pattern is compiled at once, so a bad one is an error when the policy loads.
    """

    __slots__ = ("_ignore_case", "_regex", "_under", "_whole", "pattern")

    def __init__(self, pattern: str, *, ignore_case: bool = False) -> None:
        # A file system that folds case also opens u\u0308 for \u00fc (HFS+ lists names decomposed):
        # pattern and value then compare composed.
        if ignore_case and not pattern.isascii():
            pattern = unicodedata.normalize("NFC", pattern)
        self.pattern = pattern
        self._ignore_case = ignore_case
        self._regex: Any = None
        self._whole: Callable[[bytes], bool] | None = None
        self._under: str | None = None  # "dir/**" patterns: the directory, slash runs collapsed, with "/"
        under = None if ignore_case else _UNDER.fullmatch(pattern)
        if under is not None:
            segments = [s for s in under.group(2).split("/") if s]
            if "." not in segments and ".." not in segments:
                self._under = under.group(1) + "/".join(segments) + "/"
        if _CANNOT_FAIL.fullmatch(pattern) is None:
            self._regex = self._compile()
            self._whole = whole_match(self._regex)

    def _compile(self) -> Any:
        pattern = self.pattern
        try:
            expanded = bracex.expand(pattern, keep_escapes=True, limit=MAX_EXPANSIONS)
        except bracex.ExpansionLimitException:
            raise GlobError(f"more than {MAX_EXPANSIONS} brace expansions") from None
        alternatives = sorted({_translate(p) for p in expanded or [pattern]})
        source = ("(?si)(?:" if self._ignore_case else "(?s)(?:") + "|".join(alternatives) + ")"
        try:
            return re2.compile(source, _OPTS)
        except re2.error as exc:
            raise GlobError(f"cannot compile: {exc}") from None

    def _match_under(self, under: str, value: str) -> bool:
        """``dir/**`` without a regex: the value, slash runs collapsed, starts with ``dir/`` and no
        segment after it is ``.`` or ``..`` (the tests compare this with the compiled pattern)."""
        if "//" in value:
            value = _SLASH_RUNS.sub("/", value)
        if not value.startswith(under):
            return False
        rest = value[len(under) :]
        return "." not in rest or all(s != "." and s != ".." for s in rest.split("/"))

    def match(self, value: str) -> bool:
        if self._ignore_case and not value.isascii():
            value = unicodedata.normalize("NFC", value)
        if self._under is not None:
            return self._match_under(self._under, value)
        whole = self._whole
        if whole is None:
            self._regex = self._compile()
            whole = self._whole = whole_match(self._regex)
        return whole(_subject(value))


def _subject(value: str) -> bytes:
    """What a glob's expression is matched against: ``.``/``..`` segments swapped for their sentinels
    (and the sentinel characters themselves for another), as UTF-8 (lone surrogates as RE2 reads
    them: one character each)."""
    global _last_subject
    last = _last_subject
    if last[0] == value:
        return last[1]
    text = value
    if "." in text or any(c in _SENTINELS for c in text):
        text = "/".join(
            _DOT if s == "." else _DOTDOT if s == ".." else s.translate(_VALUE_MAP) for s in text.split("/")
        )
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")
    _last_subject = (value, data)
    return data
