"""Internal addresses reached through a name: only when a rule names the address itself.

A rule on a name (``url(url, "https://*.example.com")``) decides about names; the name may resolve
to loopback, a private range or the cloud metadata address, which the rule's author never saw.
``http.get`` and the egress proxy connect there only when a matched rule of the decision's own
effect names the address in a positive ``ip()`` range. The host's own addresses, and those on a
network it is attached to, count as internal whatever their range (see ``_own_address``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from agentguard.models import Decision, Effect
from agentguard.policy._addresses import parse_ranges, reachable_addresses
from agentguard.policy._net_conditions import rule_names_address
from agentguard.tools._own_address import reaches_local

__all__ = ["decision_names_address", "is_internal"]

_INTERNAL = parse_ranges(["internal"])


def is_internal(address: str) -> bool:
    """True for an address in the ``internal`` ranges (also through the IPv4 address it embeds), or
    one of this machine's own or on a network it is attached to (a public address on an interface,
    an IPv6 LAN's neighbours)."""
    ip = ipaddress.ip_address(address)
    embedded = list(reachable_addresses(ip))
    return any(a in net for a in embedded for net in _INTERNAL) or any(reaches_local(a) for a in embedded)


def decision_names_address(
    decision: Decision, address: str, refs: Iterable[str], literal: str | None = None
) -> bool:
    """A matched rule allows ``address`` itself: a positive ip() on one of ``refs`` names its range
    (of several allow rules, any that matched, not only the first). The rule's effect is the
    decision's, or ``allow`` for a call that asked (it runs, so a person approved it).
    ``literal``: the call wrote the address as its host; a url() pattern for exactly it names it too."""
    effects = frozenset({decision.effect.value, Effect.ALLOW.value})
    names = frozenset(refs)
    rules = [r for r in (decision.rule, *decision.matched) if r is not None]
    return any(rule_names_address(r.text, address, names, effects, literal) for r in rules)
