"""Conditions over two arguments: where their values meet (see docs/provenance.md).

same_source(a, b)      one source holds every value of both
leaks_to(arg, to)      carries data the user did not give from a source where ``to`` never occurs
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from agentguard.policy import _conditions as c
from agentguard.policy._provenance import _looked_up, _scalars, _short, _texts, _where
from agentguard.session._evidence import note as _note
from agentguard.session._index import USER, VOUCHED, Entry
from agentguard.session._links import host_name
from agentguard.session._session import Session, live_session
from agentguard.session._spellings import other_sites
from agentguard.session._values import entities, key_of, tokens

if TYPE_CHECKING:
    from agentguard.policy._conditions import EvalContext, Predicate, _Builder

__all__ = ["leaks_to", "same_source"]


# ---------------------------------------------------------------- two arguments: where they meet


def _common_sources(ctx: EvalContext, session: Session, values: list[Any]) -> set[int]:
    """The sources that hold every scalar in ``values`` (empty when one was never seen)."""
    common: set[int] | None = None
    for item in values:
        held = {i for entry in _looked_up(ctx, session, item)[1] for i in entry.sources}
        common = held if common is None else common & held
        if not common:
            return set()
    return common or set()


def same_source(b: _Builder) -> Predicate:
    """One source holds every value of both arguments: the amount is written where the account is."""
    b.arity(2)
    left, right = b.ref(0), b.ref(1)
    label = f"{'.'.join(left)}, {'.'.join(right)}"

    def pred(ctx: EvalContext) -> bool:
        a, z = c._lookup(ctx.arguments, left), c._lookup(ctx.arguments, right)
        if a is c._MISSING or z is c._MISSING:
            return False
        items_a, items_z = _scalars(a), _scalars(z)
        if not items_a or not items_z:
            return False
        session = live_session()
        if session is None:
            _note(lambda: f"same_source({label}): no session, provenance unknown")
            return False
        shared = _common_sources(ctx, session, [*items_a, *items_z])
        if not shared:
            _note(lambda: f"same_source({label}): no one source holds both")
            return False
        _note(lambda: f"same_source({label}): both in {session.source(min(shared)).describe()}")
        return True

    return pred


def _carried(session: Session, text: str, budget: _Budget) -> list[tuple[str, Entry]]:
    """Seen values inside ``text``: what ``carries_untrusted`` finds, plus words with a digit in them
    (a code, an amount, an account or file id is short, and a digit makes it more than prose)."""
    hits = session.find_in(text, short_compact=True)
    key = key_of(text)
    for word in tokens(key):
        if any(ch.isdigit() for ch in word):
            entry = session.index.get(word)
            if entry is not None:
                hits.append((word, entry))
    for word in _grouped(key, budget):  # each group holds a digit already
        entry = session.index.get(word)
        if entry is not None:
            hits.append((word, entry))
    return hits


# A spaced-out code: groups of up to 6 letters and digits, each with a digit, apart by spaces or
# "-./_:" ("4 6 3", "46-38", "4 / 6"), which are read as spaces; a piece of letters only ends a run.
_GAPS = str.maketrans("-./_:", "     ")
_GROUP_CHARS = 6
_GROUPS = 8  # a code is read from at most this many groups
_MIN_JOINED = 5
MAX_GROUPS = 4096  # groups with a digit a text is read for; past it: cannot tell
# ...and over all texts of one evaluation: each text, then all of them joined (``_texts``), so a
# group is read twice at most; a list of texts each under MAX_GROUPS is no way around it.
MAX_CALL_GROUPS = 2 * MAX_GROUPS


class TooManyGroups(Exception):
    """The texts hold more short groups with a digit than are read joined: the answer is "cannot tell"."""


class _Budget:
    """Groups left to read in one evaluation, shared by every text (``MAX_CALL_GROUPS``)."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_CALL_GROUPS


def _grouped(key: str, budget: _Budget) -> Iterator[str]:
    """Runs of short groups, each with a digit, read joined: ``4 6 3 8 2 0``, ``46-38-20`` and
    ``463 820`` are the code ``463820``. Each stretch of 2 to 8 neighbouring groups, 5 characters at
    least. Past ``MAX_GROUPS`` in this text or the ``budget`` of all: ``TooManyGroups``."""
    run: list[str] = []
    groups = 0
    for piece in key.translate(_GAPS).split():
        if len(piece) <= _GROUP_CHARS and piece.isalnum() and not piece.isalpha():
            groups += 1
            budget.left -= 1
            if groups > MAX_GROUPS or budget.left < 0:
                raise TooManyGroups
            run.append(piece)
        elif run:
            yield from _stretches(run)
            run = []
    yield from _stretches(run)


def _stretches(run: list[str]) -> Iterator[str]:
    for i in range(len(run) - 1):
        for j in range(i + 2, min(len(run), i + _GROUPS) + 1):
            joined = "".join(run[i:j])
            if len(joined) >= _MIN_JOINED:
                yield joined


_HOSTS = frozenset({"host"})


def _site_sources(session: Session, recipient: Any) -> set[int]:
    """Where the site of a link recipient was seen: its host, with or without ``www.``, and the
    domains above it. A link is read by whoever runs its site, so what a source naming the site
    said may go back to any page of it (a page's next page); an e-mail address is one mailbox."""
    if type(recipient) is not str or ("@" in recipient and "://" not in recipient):
        return set()
    found = entities(recipient, _HOSTS)
    hosts = [e.key for e in found] or [h for h in (host_name(recipient),) if h is not None]
    out: set[int] = set()
    for site in (*hosts, *other_sites(recipient)):
        entry = session.index.get(site)
        if entry is not None:
            out.update(entry.sources)
    return out


def leaks_to(b: _Builder) -> Predicate:
    """The lethal-trifecta shape: ``arg`` carries a value the session read somewhere the recipient
    ``to`` was never seen, and the user did not give: data the recipient's source could not know."""
    b.arity(2)
    ref = b.ref_or_star(0)
    to = b.ref(1)
    label = f"{'*' if ref is None else '.'.join(ref)}, {'.'.join(to)}"

    def pred(ctx: EvalContext) -> bool:
        recipient = c._lookup(ctx.arguments, to)
        texts = _texts(ctx, ref)
        session = live_session()
        if recipient is c._MISSING or not texts or session is None:
            return False
        around = {
            i
            for item in _scalars(recipient)
            for entry in _looked_up(ctx, session, item)[1]
            for i in entry.sources
        }
        for item in _scalars(recipient):
            around |= _site_sources(session, item)
        budget = _Budget()
        for text in texts:
            try:
                carried = _carried(session, text, budget)
            except TooManyGroups:  # past what is read: cannot tell, so it may carry one
                _note(lambda: f"leaks_to({label}): more than {MAX_GROUPS} groups with a digit, cannot tell")
                return True
            for key, entry in carried:
                if entry.mask & (USER | VOUCHED) or not entry.sources or around.intersection(entry.sources):
                    continue
                _note(lambda: f"leaks_to({label}): carries {_short(key)}, {_where(session, [entry])}")  # noqa: B023
                return True
        return False

    return pred
