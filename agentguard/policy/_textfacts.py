"""Conditions over text arguments, facts and pairs of arguments (see docs/provenance.md).

contains_fact(arg, "set")          the text contains a member of a fact set
every_url / every_email / every_iban(arg, "cond")
                                   every URL / e-mail / IBAN written in the text satisfies cond (over _)
host_in(arg, "set")                the URL's host / e-mail's domain is in the set or under a member
is(arg, "name")                    the named condition of facts.toml holds for the value
same(a, b), lt_arg(a, b), le_arg(a, b)   two arguments compared
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ahocorasick

from agentguard.policy import _conditions as c
from agentguard.policy._condition_types import EvalContext
from agentguard.policy._facts import EnumerableFacts, automaton_of
from agentguard.policy._provenance import TooManyValues, _scalars, _short, _texts
from agentguard.policy._shellmatch import Tri
from agentguard.policy._urls import UnreadableUrl, parse_url
from agentguard.session._compact import MIN_COMPACT, compact
from agentguard.session._encoded import decoded_runs
from agentguard.session._evidence import note as _note
from agentguard.session._values import MAX_KEY_CHARS, entities, host_name, host_of, keys_of, read_as_shown

if TYPE_CHECKING:
    from agentguard.policy._conditions import Predicate, _Builder

__all__ = [
    "contains_fact",
    "every_email",
    "every_iban",
    "every_url",
    "host_in",
    "is_",
    "le_arg",
    "lt_arg",
    "same",
]


def contains_fact(b: _Builder) -> Predicate:
    from agentguard.policy._facts import EnumerableFacts

    b.arity(2)
    ref = b.ref_or_star(0)
    fact = b.string(1)

    def pred(ctx: EvalContext) -> Tri:
        facts = ctx.facts
        try:
            texts = _texts(ctx, ref)
        except TooManyValues:
            return None  # cannot tell
        if not texts or not isinstance(facts, EnumerableFacts):
            return False
        readings = [reading for text in texts for reading in (text, *read_as_shown(text))]
        readings += [plain for reading in readings for plain in decoded_runs(reading)]  # base64, hex
        if any(facts.find_in(fact, reading) is not None for reading in readings):
            return True
        # an identifier regrouped or in other digits (4237 4252 ..., HGK-137-803, ١٣٧): compared compact
        automaton = _compact_members(facts.members(fact))
        return automaton is not None and any(
            next(automaton.iter(compact(reading)), None) is not None for reading in readings
        )

    return pred


@functools.lru_cache(maxsize=64)
def _compact_members(members: frozenset[str]) -> ahocorasick.Automaton | None:
    """The members that hold a digit (identifiers: numbers, codes), compact (see ``_compact``)."""
    keys = {key for key in map(compact, members) if len(key) >= MIN_COMPACT and not key.isalpha()}
    return automaton_of(keys) if keys else None


def _sub_condition(b: _Builder, index: int) -> c.Condition:
    tok = b.call.args[index]
    text = b.string(index)
    try:
        sub = c.compile_condition(text, b.env)
    except c.ConditionError as exc:
        raise b.fail(f"inner condition {text!r}, column {exc.column}: {exc.message}", tok) from None
    if sub.sandbox is not None or sub.timeout_s is not None:
        raise b.fail("an inner condition cannot carry sandbox() or timeout()", tok)
    return sub


def _bound(ctx: EvalContext, value: Any) -> EvalContext:
    return c.EvalContext({"_": value}, facts=ctx.facts, resolver=ctx.resolver)


def _f_every(b: _Builder, kind: str) -> Predicate:
    b.arity(2)
    ref = b.ref_or_star(0)
    sub = _sub_condition(b, 1)
    holds = sub.predicate  # not through Condition.__call__: one frame less per entity
    kinds = frozenset({kind})
    label = "*" if ref is None else ".".join(ref)

    def pred(ctx: EvalContext) -> Tri:
        try:
            texts = _texts(ctx, ref)
        except TooManyValues:
            return None  # cannot tell
        if texts is None:
            return False
        result: Tri = True  # "cannot tell" for one entity (a shell inner condition) stays unless one fails
        facts, resolver = ctx.facts, ctx.resolver
        for written in texts:
            shown = read_as_shown(written)
            for text in (written, *shown) if shown else (written,):
                for entity in entities(text, kinds):
                    held = holds(EvalContext({"_": entity.text}, None, facts, resolver))
                    if held is False:
                        _note(lambda: f"{label}: {kind} {_short(entity.text)} fails {sub.text!r}")  # noqa: B023
                        return False
                    if held is None:
                        result = None
        return result

    return pred


# ---------------------------------------------------------------- facts and comparisons


def _host_in(host: str, fact: str, ctx: EvalContext) -> bool:
    facts = ctx.facts
    if facts is None:
        return False
    if facts.contains(fact, host):
        return True
    if isinstance(facts, EnumerableFacts):
        # under a member: a member is what follows one of the host's dots (a look-up per label,
        # not a scan of the set)
        at = host.find(".")
        if at >= 0:
            members = facts.members(fact)
            while at >= 0:  # each parent in turn, shortest prefix cut first
                if host[at + 1 :] in members:
                    return True
                at = host.find(".", at + 1)
    return False


def _host_to_check(item: str) -> str | None:
    """``_host_named(item)``, remembered for texts of a key's length: a pure function of the text,
    and the same links and addresses are checked call after call (``every_url(..., host_in)``)."""
    return _host_remembered(item) if len(item) <= MAX_KEY_CHARS else _host_named(item)


def _host_named(item: str) -> str | None:
    """The host ``item`` names: an e-mail address's domain, a bare host name, or the host of a URL
    that every common parser reads the same way. A URL that WHATWG (ada, browsers) and RFC 3986
    parsers (``urllib.parse``, httpx) read differently (``https://example.com\\@evil.example``,
    a tab inside, user info, ``https:host`` without slashes) has no one host: None, cannot tell."""
    host = host_of(item)
    if host is None:
        return host_name(item)
    if "://" not in item and "@" in item:
        return host  # an e-mail address
    url = item if "://" in item else "http://" + item if item.lower().startswith("www.") else None
    if url is None:
        return None
    try:
        parse_url(url)
    except UnreadableUrl:
        return None
    return host


_host_remembered = functools.lru_cache(maxsize=8192)(_host_named)


def host_in(b: _Builder) -> Predicate:
    b.arity(2)
    ref = b.ref(0)
    fact = b.string(1)
    top = ref[0] if len(ref) == 1 else None  # an argument at the top: read without _lookup's call

    def pred(ctx: EvalContext) -> bool:
        arguments = ctx.arguments
        if top is not None and type(arguments) is dict:
            value = arguments.get(top, c._MISSING)
        else:
            value = c._lookup(arguments, ref)
        if type(value) is str:  # the common case: one text
            host = _host_to_check(value)
            return host is not None and _host_in(host, fact, ctx)
        try:
            items = _scalars(value) if value is not c._MISSING else []
        except TooManyValues:
            return False  # cannot tell: not every host is known to be in the set
        if not items:
            return False
        for item in items:
            if not isinstance(item, str):
                return False
            host = _host_to_check(item)
            if host is None:
                return False
            if not _host_in(host, fact, ctx):
                return False
        return True

    return pred


def is_(b: _Builder) -> Predicate:
    b.arity(2)
    ref = b.ref(0)
    name = b.string(1)
    definitions = dict(b.env.definitions)
    if name not in definitions:
        known = ", ".join(sorted(definitions)) or "none: define them under [conditions] in facts.toml"
        raise b.fail(f"unknown named condition {name!r} (known: {known})", b.call.args[1])
    inner_env = replace(b.env, definitions=tuple((k, v) for k, v in b.env.definitions if k != name))
    try:
        sub = c.compile_condition(definitions[name], inner_env)
    except c.ConditionError as exc:
        raise b.fail(f"named condition {name!r}: {exc.message}", b.call.args[1]) from None

    holds = sub.predicate
    bare = ref == ("_",)

    def pred(ctx: EvalContext) -> Tri:
        arguments = ctx.arguments
        if bare and type(arguments) is dict and len(arguments) == 1 and "_" in arguments:
            # is(_, "name") inside every_url(...): the binding it would make is this one (same
            # arguments, facts and resolver), so no second context is built
            return holds(ctx)
        value = c._lookup(arguments, ref)
        return False if value is c._MISSING else holds(_bound(ctx, value))

    return pred


def same(b: _Builder) -> Predicate:
    b.arity(2)
    left, right = b.ref(0), b.ref(1)

    def pred(ctx: EvalContext) -> bool:
        a, z = c._lookup(ctx.arguments, left), c._lookup(ctx.arguments, right)
        if a is c._MISSING or z is c._MISSING:
            return False
        ka, kz = keys_of(a), keys_of(z)
        if ka or kz:
            return not ka.isdisjoint(kz)
        return c._strict_equal(a, z)

    return pred


def _f_compare_args(b: _Builder, op: Callable[[float, float], bool]) -> Predicate:
    b.arity(2)
    left, right = b.ref(0), b.ref(1)

    def pred(ctx: EvalContext) -> bool:
        a, z = c._lookup(ctx.arguments, left), c._lookup(ctx.arguments, right)
        return c._is_number(a) and c._is_number(z) and op(a, z)

    return pred


def every_url(b: _Builder) -> Predicate:
    return _f_every(b, "url")


def every_email(b: _Builder) -> Predicate:
    return _f_every(b, "email")


def every_iban(b: _Builder) -> Predicate:
    return _f_every(b, "iban")


def lt_arg(b: _Builder) -> Predicate:
    return _f_compare_args(b, lambda x, y: x < y)


def le_arg(b: _Builder) -> Predicate:
    return _f_compare_args(b, lambda x, y: x <= y)
