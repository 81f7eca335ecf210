"""``url()`` and ``ip()``: conditions on where a call goes, with a third answer, "cannot tell".

A URL that cannot be read unambiguously, a path that servers could read two ways, a name that does
not resolve, or a name whose addresses are partly inside a range raise :class:`CannotTell`. The
engine then counts the rule as matching when its effect is ``deny`` or ``ask`` and as not matching
when it is ``allow``: an unreadable call can be stopped by a rule, never let through by one. The
exception passes through ``!``, ``&&`` and ``||`` unchanged, so negation cannot turn it into a match.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentguard.policy._addresses import Address, parse_ranges, reachable_addresses
from agentguard.policy._casbin_fields import _pieces
from agentguard.policy._condition_syntax import ConditionError, _Bool, _Call, _Node, _Not, _Parser, _tokenize
from agentguard.policy._condition_types import _MISSING, _lookup
from agentguard.policy._urls import ParsedUrl, UnreadableUrl, UrlPattern, parse_url

if TYPE_CHECKING:
    from agentguard.policy._condition_types import EvalContext, _Builder

__all__ = ["CannotTell", "f_ip", "f_url", "rule_names_address"]

Predicate = Callable[["EvalContext"], bool]


class CannotTell(Exception):
    """The condition can be neither true nor false for this call; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _parsed(ctx: EvalContext, value: Any) -> ParsedUrl:
    key = ("url", value) if isinstance(value, str) else None
    found: ParsedUrl | UnreadableUrl
    if key is not None and key in ctx.memo:
        found = ctx.memo[key]
    else:
        try:
            found = parse_url(value)
        except UnreadableUrl as exc:
            found = exc
        if key is not None:
            ctx.memo[key] = found
    if isinstance(found, UnreadableUrl):
        raise CannotTell(f"URL cannot be read unambiguously: {found.reason}")
    return found


def _reader(ref: tuple[str, ...]) -> Callable[[EvalContext], Any]:
    """The argument's value, or None when it is missing."""

    def read(ctx: EvalContext) -> Any:
        value = _lookup(ctx.arguments, ref)
        return None if value is _MISSING else value

    return read


def f_url(b: _Builder) -> Predicate:
    """``url(arg, "pattern")``: scheme, host, port and (optionally) path match the pattern."""
    b.arity(2)
    read = _reader(b.ref(0))
    tok = b.call.args[1]
    try:
        pattern = UrlPattern.parse(b.string(1))
    except ValueError as exc:
        raise b.fail(str(exc), tok) from None

    def pred(ctx: EvalContext) -> bool:
        value = read(ctx)
        if value is None:
            return False
        verdict = pattern.matches(_parsed(ctx, value))
        if verdict is None:
            raise CannotTell(f"servers read the path of {value!r} differently against {pattern.text!r}")
        return verdict

    return pred


def _host_of(ctx: EvalContext, value: Any) -> ParsedUrl:
    """A URL, or a bare host name / address (``example.com``, ``10.0.0.1``, ``[::1]``)."""
    if isinstance(value, str) and "://" not in value:
        if any(ch in value for ch in "/?#@\\") or not value:
            raise CannotTell(f"{value!r} is neither a URL nor a host")
        value = f"http://{value}/"
    return _parsed(ctx, value)


def _addresses(ctx: EvalContext, url: ParsedUrl) -> list[Address]:
    if url.ip is not None:
        return [url.ip]
    resolver = ctx.resolver
    if resolver is None:
        raise CannotTell(f"no resolver to look up {url.host!r}")
    try:
        found = resolver.resolve(url.host)
        addresses = [ipaddress.ip_address(a) for a in found]
    except (OSError, ValueError) as exc:
        raise CannotTell(f"{url.host!r} does not resolve: {exc}") from None
    if not addresses:
        raise CannotTell(f"{url.host!r} resolves to no address")
    return addresses


def f_ip(b: _Builder) -> Predicate:
    """``ip(arg, "127.0.0.0/8", "loopback", ...)``: the address(es) the URL or host reaches."""
    b.arity(2, 10_000)
    read = _reader(b.ref(0))
    texts = [b.string(i) for i in range(1, len(b.call.args))]
    try:
        networks = parse_ranges(texts)
    except ValueError as exc:
        raise b.fail(str(exc)) from None

    def inside(address: Address) -> bool:
        return any(a in net for a in reachable_addresses(address) for net in networks)

    def pred(ctx: EvalContext) -> bool:
        value = read(ctx)
        if value is None:
            return False
        url = _host_of(ctx, value)
        answers = {inside(a) for a in _addresses(ctx, url)}
        if len(answers) > 1:
            raise CannotTell(f"{url.host!r} resolves to addresses both inside and outside the ranges")
        return answers.pop()

    return pred


def rule_names_address(
    rule_text: str,
    address: str,
    refs: frozenset[str],
    effects: frozenset[str],
    literal: str | None = None,
) -> bool:
    """True when the ``p`` rule's effect is one of ``effects`` and its condition can hold only for an
    address inside a range it names.

    That is: a positive ``ip(ref, ...)`` on one of ``refs`` whose ranges contain ``address`` is a
    term of every way the condition can be true (``&&``: any term; ``||``: every branch; ``!``:
    never). ``!ip(host, "10.0.0.0/8")`` looks at addresses but allows loopback by leaving it out,
    so it does not name it. Any rule text that does not parse names nothing. ``literal``: the host
    as the call wrote it (an address, in ``ParsedUrl.host`` form); a positive ``url(ref, pattern)``
    whose pattern host is exactly that address names it too (``http://*`` does not).
    """
    pieces = _pieces(rule_text)
    if isinstance(pieces, str) or len(pieces) != 5 or pieces[0].strip() != "p":
        return False
    if pieces[4].strip() not in effects:
        return False
    try:
        ip = ipaddress.ip_address(address)
        tree = _Parser(_tokenize(pieces[3].strip())).parse()
    except (ConditionError, ValueError, RecursionError):
        return False

    def names(node: _Node) -> bool:
        if isinstance(node, _Not):
            return False
        if isinstance(node, _Bool):
            results = [names(item) for item in node.items]
            return any(results) if node.op == "&&" else all(results)
        if node.name == "url" and literal is not None:
            return _pattern_names(node, literal, refs)
        if node.name != "ip" or len(node.args) < 2:
            return False
        ref, *ranges = node.args
        if ref.kind != "name" or ref.value not in refs or any(t.kind != "str" for t in ranges):
            return False
        try:
            networks = parse_ranges([str(t.value) for t in ranges])
        except ValueError:
            return False
        return any(a in net for a in reachable_addresses(ip) for net in networks)

    return names(tree)


def _pattern_names(node: _Call, host: str, refs: frozenset[str]) -> bool:
    """``url(ref, pattern)`` on one of ``refs`` whose pattern's host is exactly ``host``."""
    if len(node.args) != 2:
        return False
    ref, text = node.args
    if ref.kind != "name" or ref.value not in refs or text.kind != "str":
        return False
    try:
        return UrlPattern.parse(str(text.value)).host == host
    except ValueError:
        return False
