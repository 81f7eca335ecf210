"""IP ranges for ``ip()`` and the resolver that turns host names into addresses at decision time.

A name is resolved once per decision (every ``ip()`` in every rule sees the same answer), and the
answer is kept in ``Decision.resolved`` so ``http.get`` connects to exactly the addresses that were
checked: no second lookup that a rebinding DNS server could answer differently.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol, runtime_checkable

__all__ = ["NAMED_RANGES", "RecordingResolver", "Resolver", "SystemResolver", "answering", "parse_ranges"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_LOOPBACK = ("127.0.0.0/8", "::1/128")
# 64:ff9b:1::/48: local-use NAT64 (RFC 8215), a network's own translator, which may reach private IPv4
_PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "64:ff9b:1::/48")
_LINK_LOCAL = ("169.254.0.0/16", "fe80::/10")
_METADATA = (
    "169.254.169.254/32",  # AWS, GCP, Azure, OCI, DigitalOcean, OpenStack
    "169.254.170.2/32",  # AWS ECS task metadata
    "169.254.170.23/32",  # AWS EKS pod identity
    "fd00:ec2::254/128",  # AWS IMDS over IPv6
    "fd00:ec2::23/128",
    "100.100.100.200/32",  # Alibaba Cloud
    "168.63.129.16/32",  # Azure WireServer: VM agent configuration, extension settings
)
_UNSPECIFIED = ("0.0.0.0/8", "::/128")  # 0.0.0.0 reaches the local host on Linux
_MULTICAST = ("224.0.0.0/4", "ff00::/8")
# ::/96: IPv4-compatible IPv6 (deprecated; some stacks still tunnel it to the IPv4 inside)
_RESERVED = ("240.0.0.0/4", "192.0.0.0/24", "198.18.0.0/15", "::/96")

NAMED_RANGES: Mapping[str, tuple[str, ...]] = {
    "loopback": _LOOPBACK,
    "private": _PRIVATE,
    "link-local": _LINK_LOCAL,
    "metadata": _METADATA,
    "unspecified": _UNSPECIFIED,
    "multicast": _MULTICAST,
    "reserved": _RESERVED,
    "internal": _LOOPBACK + _PRIVATE + _LINK_LOCAL + _METADATA + _UNSPECIFIED + _MULTICAST + _RESERVED,
}
# The IPv4 address is the last 32 bits: well-known and local-use NAT64 prefixes (the /96 form the
# local-use one is mostly deployed as; the whole local-use prefix is internal anyway), IPv4-compatible.
_LAST_32 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/96"),
    ipaddress.IPv6Network("::/96"),
)


def parse_ranges(texts: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs, single addresses or names from ``NAMED_RANGES``; ``ValueError`` names the bad one."""
    out: list[Network] = []
    for text in texts:
        if text in NAMED_RANGES:
            out.extend(ipaddress.ip_network(cidr) for cidr in NAMED_RANGES[text])
            continue
        try:
            out.append(ipaddress.ip_network(text, strict=True))
        except ValueError as exc:
            names = ", ".join(NAMED_RANGES)
            raise ValueError(f"{text!r} is not a CIDR range, an address or one of {names}: {exc}") from None
    return tuple(out)


def reachable_addresses(address: Address) -> Iterator[Address]:
    """The address and every IPv4 address it embeds (mapped, 6to4, Teredo, NAT64, compatible)."""
    yield address
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            yield address.ipv4_mapped
        if address.sixtofour is not None:
            yield address.sixtofour
        if address.teredo is not None:
            yield from address.teredo
        if any(address in net for net in _LAST_32):
            yield ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


@runtime_checkable
class Resolver(Protocol):
    """Host name to addresses. Raise ``OSError`` when the name does not resolve."""

    def resolve(self, host: str) -> Sequence[str]: ...


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``): what a fetcher on this host would use."""

    def resolve(self, host: str) -> Sequence[str]:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        seen: dict[str, None] = {}
        for info in infos:
            seen[str(info[4][0]).split("%", 1)[0]] = None
        return tuple(seen)


# A policy case table's own DNS answers (``dns:`` in cases.yaml), set around one case's decision.
_TABLE: ContextVar[Mapping[str, Sequence[str]] | None] = ContextVar("agentguard_case_dns", default=None)


@contextmanager
def answering(table: Mapping[str, Sequence[str]] | None) -> Iterator[None]:
    """Decisions inside resolve names from ``table`` only (a name it lacks does not resolve), never
    from the resolver the engine was given: a case table decides the same with and without DNS."""
    token = _TABLE.set(table)
    try:
        yield
    finally:
        _TABLE.reset(token)


def _from_table(table: Mapping[str, Sequence[str]], host: str) -> tuple[str, ...]:
    try:
        return tuple(table[host])
    except KeyError:
        raise OSError(f"{host}: not in the case table's dns") from None


class RecordingResolver:
    """One decision's view: each name is resolved at most once, and the answers are kept."""

    def __init__(self, inner: Resolver) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[str, ...] | OSError] = {}

    def resolve(self, host: str) -> Sequence[str]:
        with self._lock:
            answer = self._answers.get(host)
            if answer is None:
                table = _TABLE.get()
                try:
                    answer = (
                        _from_table(table, host) if table is not None else tuple(self._inner.resolve(host))
                    )
                except OSError as exc:
                    answer = exc
                self._answers[host] = answer
        if isinstance(answer, OSError):
            raise answer
        return answer

    def answers(self) -> dict[str, tuple[str, ...]]:
        """The names that resolved, with their addresses (for ``Decision.resolved``)."""
        if not self._answers:  # the common decision: nothing was resolved
            return {}
        with self._lock:
            return {h: a for h, a in self._answers.items() if not isinstance(a, OSError)}
