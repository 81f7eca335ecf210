"""Conditions over provenance and the session (see docs/provenance.md for the full reference).

Provenance of an argument's value (every scalar inside a list/object argument is checked):
    from_user(arg)           every value occurs in the user's request or a vouched value
    trusted(arg)             every value occurs in a trusted source (request, vouched, trusted output)
    from_tool(arg, "glob")   every value occurs in the output of a tool matching the glob
    untrusted(arg)           some value occurs in an untrusted output (it may also be trusted)
    untrusted_only(arg)      some value occurs in an untrusted output and in no trusted source
    unseen(arg)              some value occurs nowhere in the session
The session:
    session_read("untrusted" | "secret" | "pii")   true once the session read such content;
                                                    true outside any session (nothing is known)
Text arguments (``*`` = every string argument, and all of them joined, so a split value is seen):
    carries_untrusted(arg)        contains a URL, e-mail, IBAN or long value seen only in untrusted output
    leaks_to(arg, to)             carries data the user did not give from a source where ``to`` never occurs
Two arguments:
    same_source(a, b)             one source (the request, or one result's fields of one trust) holds both
The other text, fact and comparison conditions (every_url, host_in, is, same...) are in _textfacts.

Outside a session nothing is known: provenance tests that would *allow* (``trusted``...) are
false, ``unseen`` and ``session_read`` are true, ``untrusted``/``untrusted_only``/``carries_untrusted``
are false, so rules that matter must be written as ``!trusted(x)``, never as ``untrusted(x)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wcmatch import fnmatch

from agentguard.policy import _conditions as c
from agentguard.session._evidence import collecting as _collecting
from agentguard.session._evidence import note as _note
from agentguard.session._index import TRUSTED_ANY, UNTRUSTED, USER, VOUCHED, Entry
from agentguard.session._session import MAX_SEARCH, Session, live_session
from agentguard.session._spellings import other_names, other_sites
from agentguard.session._values import is_field_name, part_keys

if TYPE_CHECKING:
    from agentguard.policy._conditions import EvalContext, Predicate, _Builder

__all__ = [
    "carries_untrusted",
    "from_tool",
    "from_user",
    "session_read",
    "trusted",
    "unseen",
    "untrusted",
    "untrusted_only",
]

_MAX_ITEMS = 1000
_MARKS = ("untrusted", "secret", "pii")


def _where(session: Session, entries: list[Entry]) -> str:
    if not entries:
        return "was never seen in this session"
    first = min(e.first for e in entries)
    text = f"first appeared in {session.source(first).describe()}"
    untrusted = [e.first_untrusted for e in entries if e.first_untrusted >= 0]
    if untrusted and min(untrusted) != first:
        text += f"; also in {session.source(min(untrusted)).describe()}"
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class TooManyValues(Exception):
    """An argument holds more values than a condition reads: the answer is "cannot tell"."""


def _scalars(value: Any, out: list[Any] | None = None) -> list[Any]:
    """Strings and numbers inside ``value`` (object keys that are not field names, object values and
    list items, recursively). Keys count: a value carried as a key reaches the tool too. Past
    ``_MAX_ITEMS`` values: ``TooManyValues`` (a value behind the cap must not go unread)."""
    out = [] if out is None else out
    if isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
        if len(out) >= _MAX_ITEMS:
            raise TooManyValues
        out.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and not is_field_name(key):
                _scalars(key, out)
            _scalars(item, out)
    elif isinstance(value, list | tuple):
        for item in value:
            _scalars(item, out)
    return out


def _texts(ctx: EvalContext, ref: tuple[str, ...] | None) -> list[str] | None:
    """The string values of one argument, or of all for ``*``, plus all of them joined (a value split
    across arguments or list items is still found); None if the argument is missing."""
    if ref is None:
        strings = [s for s in _scalars(ctx.arguments) if isinstance(s, str)]
    else:
        value = c._lookup(ctx.arguments, ref)
        if type(value) is str:  # the common case: one text
            return [value]
        if value is c._MISSING:
            return None
        strings = [s for s in _scalars(value) if isinstance(s, str)]
    return [*strings, "".join(strings)] if len(strings) > 1 else strings


def _looked_up(ctx: EvalContext, session: Session, value: Any) -> tuple[int, list[Entry]]:
    key = ("prov", session.id, value)
    hit = ctx.memo.get(key)
    if hit is None:
        hit = ctx.memo[key] = session.lookup(value)
    return hit


# ---------------------------------------------------------------- provenance of a value

_ValueTest = Callable[[int, list[Entry], Session], bool]


def _untrusted_part(session: Session, item: Any, test: _ValueTest) -> tuple[str, Entry] | None:
    """A URL, address or IBAN written inside a text value that passes ``test`` (an untrusted one):
    ``Bob <drop@evil.example>`` is sent to drop@evil.example. A value trusted as a whole (a vouched
    ``Name <address>``) is the user's: its parts are not looked at."""
    if type(item) is not str:
        return None
    get = session.index.get
    for key in (*part_keys(item), *other_names(item)):  # also @name, #name, name: one name
        entry = get(key)
        if entry is not None and test(entry.mask, [entry], session):
            return key, entry
    return None


def _provenance(
    b: _Builder,
    test: _ValueTest,
    *,
    every: bool,
    no_session: bool,
    extra: int = 0,
    parts: bool = False,
    bits: tuple[int, int] | None = None,
) -> Predicate:
    """``parts``: for a "some value" test, a value that is not trusted as a whole also counts when a
    URL, address or IBAN written inside it passes (see ``_untrusted_part``). ``bits``: (need, forbid),
    ``test`` as masks (some bit of ``need`` and none of ``forbid``), tested without a call."""
    need, forbid = bits if bits is not None else (0, 0)
    b.arity(1 + extra)
    ref = b.ref(0)
    name = b.call.name
    label = ".".join(ref)
    top = ref[0] if len(ref) == 1 else None  # an argument at the top: read without _lookup's call

    def pred(ctx: EvalContext) -> bool:
        arguments = ctx.arguments
        if top is not None and type(arguments) is dict:
            value = arguments.get(top, c._MISSING)
        else:
            value = c._lookup(arguments, ref)
        if type(value) is str:  # the common case: one text, its own only scalar
            items: list[Any] = [value]
        elif value is c._MISSING:
            return False
        else:
            try:
                items = _scalars(value)
            except TooManyValues:  # cannot tell: "every value is trusted" is false, "some is not" true
                _note(lambda: f"{name}({label}): more than {_MAX_ITEMS} values, cannot tell")
                return not every
            if not items:
                return False
        session = live_session()
        if session is None:
            _note(lambda: f"{name}({label}): no session, provenance unknown")
            return no_session
        collecting = _collecting()
        memo = ctx.memo
        sid = session.id
        for item in items:
            memo_key = ("prov", sid, item)
            hit = memo.get(memo_key)
            if hit is None:
                hit = memo[memo_key] = session.lookup(item)
            mask, entries = hit
            if collecting:
                _note(lambda: f"{label} = {_short(item)} {_where(session, entries)}")  # noqa: B023
            held = (bool(mask & need) and not mask & forbid) if bits else test(mask, entries, session)
            if held is not every:
                return not every
            if parts and not mask & TRUSTED_ANY:
                part = _untrusted_part(session, item, test)
                if part is not None:
                    key, entry = part
                    _note(lambda: f"{label} = {_short(item)} writes {key!r} {_where(session, [entry])}")  # noqa: B023
                    return True
        return every

    return pred


def from_user(b: _Builder) -> Predicate:
    return _provenance(
        b,
        lambda m, e, s: bool(m & (USER | VOUCHED)),
        every=True,
        no_session=False,
        bits=(USER | VOUCHED, 0),
    )


def trusted(b: _Builder) -> Predicate:
    return _provenance(
        b, lambda m, e, s: bool(m & TRUSTED_ANY), every=True, no_session=False, bits=(TRUSTED_ANY, 0)
    )


def untrusted(b: _Builder) -> Predicate:
    return _provenance(
        b,
        lambda m, e, s: bool(m & UNTRUSTED),
        every=False,
        no_session=False,
        parts=True,
        bits=(UNTRUSTED, 0),
    )


def untrusted_only(b: _Builder) -> Predicate:
    return _provenance(
        b,
        lambda m, e, s: bool(m & UNTRUSTED) and not m & TRUSTED_ANY,
        every=False,
        no_session=False,
        parts=True,
        bits=(UNTRUSTED, TRUSTED_ANY),
    )


def unseen(b: _Builder) -> Predicate:
    return _provenance(b, lambda m, e, s: m == 0, every=False, no_session=True)


def from_tool(b: _Builder) -> Predicate:
    b.arity(2)
    pattern = b.string(1)
    try:
        matcher = fnmatch.compile(pattern.lower(), flags=fnmatch.BRACE)
    except ValueError as exc:
        raise b.fail(f"bad tool glob {pattern!r}: {exc}", b.call.args[1]) from None

    def test(mask: int, entries: list[Entry], session: Session) -> bool:
        return any(
            session.sources[i].kind == "output" and matcher.match(session.sources[i].tool or "")
            for entry in entries
            for i in entry.sources
        )

    return _provenance(b, test, every=True, no_session=False, extra=1)


# ---------------------------------------------------------------- the session


def session_read(b: _Builder) -> Predicate:
    b.arity(1)
    mark = b.string(0)
    if mark not in _MARKS:
        raise b.fail(f"{mark!r} is not one of {', '.join(_MARKS)}", b.call.args[0])

    def pred(ctx: EvalContext) -> bool:
        session = live_session()
        if session is None:
            _note(lambda: f'session_read("{mark}"): no session, assumed true')
            return True
        if session.has_read(mark):
            _note(lambda: f"the session read {mark} content first in {session.marked_by(mark)}")
            return True
        return False

    return pred


# ---------------------------------------------------------------- text arguments (more in _textfacts)


def carries_untrusted(b: _Builder) -> Predicate:
    b.arity(1)
    ref = b.ref_or_star(0)
    label = "*" if ref is None else ".".join(ref)

    def pred(ctx: EvalContext) -> bool:
        try:
            texts = _texts(ctx, ref)
        except TooManyValues:
            _note(lambda: f"{label}: more than {_MAX_ITEMS} values, cannot tell")
            return True
        session = live_session()
        if not texts or session is None:
            return False
        for text in texts:
            if len(text) > MAX_SEARCH:  # past what is searched: cannot tell, so it may carry one
                _note(lambda: f"{label}: text of {len(text)} characters, past the search limit")  # noqa: B023
                return True
            for key, entry in session.find_in(text):  # the first untrusted-only value found
                if entry.mask & UNTRUSTED and not entry.mask & TRUSTED_ANY:
                    _note(lambda: f"{label} carries {_short(key)}, {_where(session, [entry])}")  # noqa: B023
                    return True
            for site in other_sites(text):  # the site with or without its www.: the same site
                seen = session.index.get(site)
                if seen is not None and seen.mask & UNTRUSTED and not seen.mask & TRUSTED_ANY:
                    _note(lambda: f"{label} names the site {site!r}, {_where(session, [seen])}")  # noqa: B023
                    return True
        return False

    return pred
