"""``copies_untrusted(arg)``: a text argument holds a phrase copied out of untrusted output.

The value conditions (``carries_untrusted``) find URLs, addresses, IBANs and long values inside text;
a sentence an attacker wrote in a review and the agent copied into a calendar title has none of
them. This one reads the argument as words (``agentguard.session._phrases``): true when it holds
``SHINGLE`` words in a row of some untrusted text, or a short part of it (a whole argument, or a
part between line breaks, sentence ends and quotes, of 2 to ``SHINGLE - 1`` words) that is a whole
line, sentence or quoted span of untrusted text; in both cases only when no trusted source (the
request, vouched values, trusted output) holds those words in that order. ``*`` reads every string
argument, and all of them joined by a space, so a phrase split across two arguments is still found.
Outside a session it is false (nothing is known); a text past ``MAX_SEARCH`` characters or an
argument of more than 1,000 values is "cannot tell": true.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentguard.policy import _conditions as c
from agentguard.policy._provenance import _MAX_ITEMS, TooManyValues, _scalars, _short
from agentguard.session._evidence import note as _note
from agentguard.session._session import MAX_SEARCH, live_session
from agentguard.session._values import read_as_shown

if TYPE_CHECKING:
    from agentguard.policy._conditions import EvalContext, Predicate, _Builder

__all__ = ["copies_untrusted"]


def _texts(ctx: EvalContext, ref: tuple[str, ...] | None) -> list[str] | None:
    """The string values of one argument (or every one, for ``*``) and, when there are several, all
    of them joined by a space; None when the argument is missing."""
    value = ctx.arguments if ref is None else c._lookup(ctx.arguments, ref)
    if type(value) is str:
        return [value]
    if value is c._MISSING:
        return None
    strings = [s for s in _scalars(value) if isinstance(s, str)]
    return [*strings, " ".join(strings)] if len(strings) > 1 else strings


def copies_untrusted(b: _Builder) -> Predicate:
    b.arity(1)
    ref = b.ref_or_star(0)
    label = "*" if ref is None else ".".join(ref)

    def pred(ctx: EvalContext) -> bool:
        session = live_session()
        if session is None:
            return False
        try:
            texts = _texts(ctx, ref)
        except TooManyValues:
            _note(lambda: f"copies_untrusted({label}): more than {_MAX_ITEMS} values, cannot tell")
            return True
        for text in texts or ():
            if len(text) > MAX_SEARCH:
                size = len(text)
                _note(lambda: f"copies_untrusted({label}): text of {size} characters, past the search limit")  # noqa: B023
                return True
            for reading in (text, *read_as_shown(text)):
                hit = session.copied(reading)
                if hit is not None:
                    phrase, source = hit
                    where = session.source(source).describe()
                    _note(lambda: f"{label} copies {_short(phrase)} from {where}")  # noqa: B023
                    return True
        return False

    return pred
