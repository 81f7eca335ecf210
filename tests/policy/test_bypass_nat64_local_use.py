"""Red team: IPv6 forms that translate to an IPv4 address, missed by the internal ranges.

``64:ff9b::/96`` (the well-known NAT64 prefix) was read as the IPv4 address it embeds, but the
local-use NAT64 prefix ``64:ff9b:1::/48`` (RFC 8215) was not, and a network's own translator may
reach private and link-local IPv4 through it (the well-known prefix must not): ``http.get`` under
an allow that names no address connected to ``[64:ff9b:1::a9fe:a9fe]``, the metadata address, and
``ip(url, "metadata")`` did not deny it. The same for IPv4-compatible addresses (``::a9fe:a9fe``,
deprecated, still tunnelled by some stacks). Both are now internal, and read as the IPv4 inside.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.tools._internal import is_internal
from tests.policy.conftest import decide
from tests.policy.test_bypass_urls import DNS

TRANSLATED = [
    "64:ff9b:1::a9fe:a9fe",  # /96 inside the local-use prefix: 169.254.169.254
    "64:ff9b:1::7f00:1",  # 127.0.0.1
    "64:ff9b:1::a00:1",  # 10.0.0.1
    "64:ff9b:1:a9fe:a9:fe00::",  # RFC 6052 /48 form of 169.254.169.254
    "64:ff9b:1:ffff::1",  # anything else in the local-use prefix: a local translator's
    "::a9fe:a9fe",  # IPv4-compatible 169.254.169.254
    "::7f00:1",  # IPv4-compatible 127.0.0.1
]


@pytest.mark.parametrize("address", TRANSLATED)
def test_translated_addresses_are_internal(address: str) -> None:
    assert is_internal(address), address


@pytest.mark.parametrize(
    ("address", "named"),
    [("64:ff9b:1::a9fe:a9fe", "metadata"), ("64:ff9b:1::7f00:1", "loopback"), ("::7f00:1", "loopback")],
)
def test_an_ip_deny_reads_the_ipv4_inside(
    engine_for: Callable[..., PolicyEngine], address: str, named: str
) -> None:
    engine = engine_for(
        f'p, *, http.get, ip(url, "{named}"), deny\np, *, http.get, url(url, "*://*:*"), allow',
        resolver=DNS,
    )
    decision = decide(engine, "http.get", url=f"http://[{address}]/")
    assert decision.effect is Effect.DENY, (address, decision.reason)


@pytest.mark.parametrize("address", ["2606:4700::1", "64:ff9b::5db8:d822", "2001:db8::1"])
def test_public_addresses_stay_outside(address: str) -> None:
    assert not is_internal(address), address
