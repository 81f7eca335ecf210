"""Tool patterns (the ``tool`` column) with casbin ``globMatch`` semantics, compiled only when needed."""

from __future__ import annotations

import functools
import re
from typing import Any

from wcmatch import glob

__all__ = ["ToolPattern", "tool_pattern"]

_GLOB_CHARS = re.compile(r"[*?\[\]{}\\]")
_ONE_SEGMENT = re.compile(r"^[a-z0-9._\-:!*?\[\]]+$")  # one segment, no braces
_PLAIN_CLASS = re.compile(r"\[!?(?:[a-z0-9](?:-[a-z0-9])?)+\]")
_ONE_CHAR_EACH = re.compile(r"[a-z0-9._\-:!?]+")  # literal characters and ``?``, each matching one


class ToolPattern:
    """A ``tool`` column, with casbin ``globMatch`` semantics (``*`` stops at ``/``).

    Compiling a glob with wcmatch costs ~60 us, which at 100,000 rules is most of a load, so it is
    done on first use. Only a brace expansion can fail to compile (too many expansions), so a pattern
    with ``{`` is compiled at once and a bad one is a load error. A one-segment pattern made of
    literal text, ``*``, ``?`` and plain classes is matched without any regex against names with no
    ``/`` that do not start with ``.`` (where wcmatch's ``*`` and ``?`` are plain wildcards): the tests
    compare it with casbin's ``globMatch``.
    """

    __slots__ = ("_first", "_last", "_length", "_matcher", "_middle", "_simple", "literal", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        globby = _GLOB_CHARS.search(text) is not None
        self.literal = None if globby or "/" in text else text
        self._matcher: Any = None
        # The pieces of a simple pattern between stars, held in slots rather than a tuple: patterns
        # are compiled on first use, during decisions, and each object left behind brings the next
        # garbage-collection pass closer. ``_middle`` is None for a pattern without a star.
        self._simple: bool | None = None  # None: not parsed yet
        self._first: _Piece = ""
        self._last: _Piece = ""
        self._middle: tuple[_Piece, ...] | None = None
        # of every name it matches: -1 when that varies (a star), -2 when not worked out yet. Worked out
        # now for a star-less glob (~1 us, a ``?``/``[]`` pattern): most names that reach one on a
        # first-sight decision are of another length, and its parse would be the decision's slowest part.
        if "*" in text:
            self._length = -1
        elif globby and "{" not in text:
            self._length = _fixed_length(text)
            if self._length >= 0:
                # and parsed now (~2 us; 23 ms for the 10,000 of a 100,000-rule policy): its piece is
                # a tuple, and made during a decision it was a fifth of the objects a first-sight
                # decision left behind there (so of the collection passes in the slowest 1%)
                self._parse_simple()
        else:
            self._length = -2
        if not globby:
            return
        if "{" in text:
            self._matcher = self._compile()  # now, so a bad pattern is a load error
            self._simple = False

    def _compile(self) -> Any:
        pattern = self.text[1:] if self.text.startswith("*/") else self.text
        parts = [p if p == "**" else re.sub(r"\*{2,}", "*", p) for p in pattern.split("/")]
        pattern = "/".join(parts)
        if pattern.endswith("/**"):
            pattern = "{" + pattern[:-3] + "," + pattern + "}"
        return glob.compile(pattern, flags=glob.GLOBSTAR | glob.BRACE)

    @property
    def matcher(self) -> Any:
        if self._matcher is None:
            self._matcher = self._compile()
        return self._matcher

    def matches(self, tool: str) -> bool:
        literal = self.literal
        if literal is not None:
            if "/" not in tool:
                return tool == literal
        elif "/" not in tool and not tool.startswith("."):
            simple = self._simple
            if simple is None:
                # Parsing a ``?``/``[]`` pattern costs ~5 us, and a large policy has thousands, each
                # parsed when a name first reaches it: most such names are of another length, which
                # a cheaper look at the pattern tells (``svc12?.re[a-e]d`` matches 11 characters).
                length = self._length
                if length == -2:
                    length = self._length = _fixed_length(self.text)
                if length >= 0 and length != len(tool):
                    return False
                self._parse_simple()
                simple = self._simple
            if simple:
                return self._wild_match(tool)
        return bool(self.matcher.match(tool))

    def _parse_simple(self) -> None:
        text = self.text
        if "?" not in text and "[" not in text and "]" not in text:
            # only stars (``svc12.*``, ``*.admin``, ``team*.svc12.write``), parsed on first use at
            # most once per first-sight decision at 100,000 rules: split in place, no token walk
            if "**" in text or _ONE_SEGMENT.match(text) is None:
                self._simple = False
                return
            first, _, last = text.partition("*")
            if "*" not in last:
                self._first, self._last, self._middle = first, last, ()
                self._simple = True
                return
        parts = _simple_parts(text)
        if not parts:
            self._simple = False
            return
        self._first = parts[0]
        if len(parts) > 1:
            self._last = parts[-1]
            self._middle = parts[1:-1]  # () for two pieces: the shared empty tuple
        self._simple = True

    def _wild_match(self, name: str) -> bool:
        """``name`` against the pieces between stars: the first must start it, the last end it, the
        others follow in order between (the leftmost place is always the best). Plain-text pieces,
        the common case (``svc12.*``, ``*.admin``), are tested in place by ``str`` methods."""
        first, middle = self._first, self._middle
        if middle is None:
            return _piece_length(first) == len(name) and _part_at(first, name, 0)
        last = self._last
        first_length = len(first) if type(first) is str else _piece_length(first)
        end = len(name) - (len(last) if type(last) is str else _piece_length(last))
        if end < first_length:
            return False
        if type(first) is str:
            if not name.startswith(first):
                return False
        elif not _part_at(first, name, 0):
            return False
        if type(last) is str:
            if not name.endswith(last):  # end >= 0 here: the same as startswith(last, end)
                return False
        elif not _part_at(last, name, end):
            return False
        at = first_length
        for part in middle:
            found = _find_part(part, name, at, end)
            if found < 0:
                return False
            at = found + _piece_length(part)
        return True


def _fixed_length(text: str) -> int:
    """The length of every name ``text`` matches, when that is fixed: one segment of literal
    characters, ``?`` and plain classes (each matching exactly one character), no ``*``; else -1."""
    if "*" in text:
        return -1
    if "[" in text:
        text = _PLAIN_CLASS.sub("?", text)
    return len(text) if _ONE_CHAR_EACH.fullmatch(text) else -1


# One piece of a pattern between stars: plain text, or its length followed by its items in order:
# literal runs (str), a number of ``?`` (int) and classes (their characters and whether negated).
# Runs are tested with ``startswith`` in place, so ``svc12?.re[a-e]d`` is five steps, not 11.
_Item = str | int | tuple[frozenset[str], bool]
_Piece = str | tuple[_Item, ...]


_PIECE_TOKENS = re.compile(r"(\*)|(\?)|\[(!?)((?:[a-z0-9](?:-[a-z0-9])?)+)\]|([^*?\[\]{}]+)|(.)")


@functools.lru_cache(maxsize=1024)
def _class_chars(body: str) -> frozenset[str] | None:
    """The characters of a plain class body (``a-c9``), or None for a reversed range."""
    chars: set[str] = set()
    for lo, hi in re.findall(r"([a-z0-9])(?:-([a-z0-9]))?", body):
        if hi and hi < lo:
            return None
        chars.update(chr(x) for x in range(ord(lo), ord(hi or lo) + 1))
    return frozenset(chars)


@functools.lru_cache(maxsize=1024)
def _class_entry(body: str, negate: bool) -> tuple[frozenset[str], bool] | None:
    """One shared (characters, negated) entry per class: patterns compiled on first use leave fewer
    objects behind."""
    chars = _class_chars(body)
    return None if chars is None else (chars, negate)


def _simple_parts(text: str) -> tuple[_Piece, ...] | None:
    """``text`` split at ``*`` into pieces, or None when it has more than literal text, ``*``, ``?``
    and plain classes (``[a-c9]``, ``[!x]``) in one segment. Parsed on a pattern's first use, during
    a decision: one object per piece that is not plain text (its length and items in one tuple)."""
    if "**" in text or not _ONE_SEGMENT.match(text):
        return None
    if "[" not in text and "]" not in text and "?" not in text:
        return tuple(text.split("*"))
    pieces: list[_Piece] = []
    items: list[_Item] = []
    plain = True  # ``items`` holds only literal runs so far
    length = 0
    for star, any_char, negate, body, literal, _other in _PIECE_TOKENS.findall(text):
        if star:
            pieces.append("".join(items) if plain else (length, *items))  # type: ignore[arg-type]
            items = []
            plain = True
            length = 0
        elif any_char:
            if items and type(items[-1]) is int:
                items[-1] += 1
            else:
                items.append(1)
            plain = False
            length += 1
        elif body:
            entry = _class_entry(body, bool(negate))
            if entry is None:
                return None
            items.append(entry)
            plain = False
            length += 1
        elif literal:
            items.append(literal)
            length += len(literal)
        else:  # a "[" or "]" that is not a plain class
            return None
    pieces.append("".join(items) if plain else (length, *items))  # type: ignore[arg-type]
    return tuple(pieces)


def _piece_length(part: _Piece) -> int:
    if isinstance(part, str):
        return len(part)
    length = part[0]
    assert type(length) is int
    return length


def _part_at(part: _Piece, name: str, at: int) -> bool:
    """Whether ``part`` matches ``name`` at ``at``."""
    if type(part) is str:
        return name.startswith(part, at)
    if part[0] > len(name) - at:  # type: ignore[operator]
        return False
    for k in range(1, len(part)):
        item = part[k]
        if type(item) is str:
            if not name.startswith(item, at):
                return False
            at += len(item)
        elif type(item) is int:
            at += item
        else:
            chars, negated = item  # type: ignore[str-unpack, misc]
            if (name[at] in chars) is negated:
                return False
            at += 1
    return True


def _find_part(part: _Piece, name: str, start: int, end: int) -> int:
    """The leftmost place in ``name[start:end]`` where ``part`` matches whole, or -1."""
    if type(part) is str:
        return name.find(part, start, end)
    last = end - part[0]  # type: ignore[operator]
    lead = part[1]
    at = start
    while at <= last:
        if type(lead) is str:  # jump to the next place its first run starts
            at = name.find(lead, at, last + len(lead))
            if at < 0:
                return -1
        if _part_at(part, name, at):
            return at
        at += 1
    return -1


@functools.lru_cache(maxsize=1 << 18)
def tool_pattern(text: str) -> ToolPattern:
    """``ToolPattern(text)``, shared: reloads and the rule index reuse compiled patterns. Room for every
    pattern of a large policy: the index asks for each glob in file order (the loader only for those
    with braces, compiled when made), and an LRU smaller than the policy evicts every pattern before
    its second use (a 100,000-rule policy has more than 65,536 distinct ones)."""
    return ToolPattern(text)
