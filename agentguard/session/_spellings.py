"""Other spellings of one site or one name, read only to find a value the outside world wrote.

``www.evil.example`` and ``evil.example`` are one site to whoever runs it, and so is every name
under it (``9f8e7d6c.evil.example`` carries data in a label its owner's DNS server sees), and ``@mallory``,
``#mallory`` and ``mallory`` one member or channel to a workspace. A public suffix
(``github.io``, ``co.uk``, per the Public Suffix List) is no site: names under it are others'.
These readings merge spellings, so they are only ever used to find an *untrusted* value
(``carries_untrusted``, ``untrusted_only``): a site or a name is never the user's by another spelling of it.
"""

from __future__ import annotations

import functools
import ipaddress
import re

from publicsuffixlist import PublicSuffixList

from agentguard.session._normal import MAX_KEY_CHARS
from agentguard.session._values import entities, host_name, key_of

__all__ = ["other_names", "other_sites"]


def other_sites(text: str) -> tuple[str, ...]:
    """The hosts of ``text``'s links (or of ``text``, a bare host name) with a leading ``www.``
    dropped, or added where there is none, and the domains above them (two labels at least), each
    with and without ``www.``. Case, a trailing dot and Unicode or punycode spellings are one key
    already (``host_of``, ``host_name``)."""
    if len(text) > MAX_KEY_CHARS or "." not in text:  # every host has a dot
        return ()
    others: list[str] = []
    hosts = False
    for entity in entities(text):
        if entity.kind == "host":
            hosts = True
            others.extend(_site_spellings(entity.key))
    if not hosts and "/" not in text:
        bare = host_name(text)
        if bare is not None:
            others.extend(_site_spellings(bare))
    return tuple(dict.fromkeys(others))


def _site_spellings(host: str) -> list[str]:
    """``host`` with its ``www.`` toggled, then each parent domain both ways, up to the site anyone
    can register (the Public Suffix List's registrable domain: ``myproj.github.io``, ``bbc.co.uk``),
    never a public suffix (``github.io``, ``co.uk``: a page naming one names no site); never ``host``
    itself (it is looked up as written already) and none for an address literal (``10.0.0.5`` has no
    parent). Parents longer than a DNS name (253 characters) are skipped: they never resolve, and
    walking them all was quadratic in a host's length."""
    if host.startswith("[") or _is_address(host):
        return []
    site = _registrable(host)
    last = len(host) - len(site) if site is not None else 0  # where the registrable domain begins
    labels = host.split(".")
    out: list[str] = []
    start = 0  # where labels[i:] begins in host
    for i in range(len(labels) - 1):
        if i:
            start += len(labels[i - 1]) + 1
            if start > last:
                break  # above the registrable domain: public suffixes only
            if len(host) - start > _MAX_DNS_NAME:
                continue
        name = host[start:]
        if i:
            out.append(name)
        other = name[4:] if name.startswith("www.") else "www." + name
        if "." in other and other != host and not _public(other):
            out.append(other)
    return out


@functools.cache
def _suffixes() -> PublicSuffixList:
    """The Public Suffix List the package ships (ICANN and private sections), loaded on first use."""
    return PublicSuffixList()


@functools.lru_cache(maxsize=8192)
def _registrable(host: str) -> str | None:
    """The registrable domain of ``host`` (``None``: ``host`` is a public suffix itself)."""
    found: str | None = _suffixes().privatesuffix(host)
    return found


@functools.lru_cache(maxsize=8192)
def _public(name: str) -> bool:
    return bool(_suffixes().is_public(name))


_MAX_DNS_NAME = 253


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# A member's or a channel's name: one word, maybe with the "@" or "#" a workspace writes it with.
_NAME = re.compile(r"[@#]?[^\W_][\w.'-]{0,79}")


@functools.lru_cache(maxsize=4096)
def other_names(text: str) -> tuple[str, ...]:
    """A one-word name with its ``@`` or ``#`` dropped or swapped, or without one with each."""
    key = key_of(text) if len(text) <= MAX_KEY_CHARS else ""
    if _NAME.fullmatch(key) is None:
        return ()
    if key[0] in "@#":
        name = key[1:]
        return (name, ("#" if key[0] == "@" else "@") + name)
    return ("@" + key, "#" + key)
