"""Red team: ``http.get`` reached loopback and the metadata address written as an address literal.

A name allowed by ``url()`` that resolves to an internal address is refused unless a rule names the
address (see test_bypass_web_internal). An address written in the URL was connected to on any allow:
``p, *, http.get, *, allow`` (the trifecta example) or ``url(url, "http://*:*")`` let an injected
page make the agent fetch ``http://169.254.169.254/latest/meta-data/...`` or a loopback admin
endpoint, in any of the spellings WHATWG reads as those (``http://2130706433/``,
``http://[::ffff:127.0.0.1]/``). The egress proxy refuses the same call. An internal literal is
now reached only when the deciding rule names it: an ``ip()`` range holding it, or a ``url()``
pattern written for that very address (``http://127.0.0.1:*``), in every branch.
A real guard and policy decide; a real HTTP server on loopback stands for the host service.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from http.server import ThreadingHTTPServer

import pytest

from agentguard import Guard, ToolFailed
from agentguard.policy._addresses import parse_ranges
from agentguard.tools._internal import is_internal
from tests.tools.test_bypass_web_internal import _seen, guard_for, service  # noqa: F401

SPELLINGS = ["127.0.0.1", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]", "127.1"]


@pytest.mark.parametrize(
    "rule",
    [
        "p, *, http.get, *, allow",
        'p, *, http.get, url(url, "http://*:*"), allow',
        'p, *, http.get, !url(url, "https://evil.example"), allow',
        'p, *, http.get, url(url, "http://*:*") || url(url, "http://127.0.0.1:*"), allow',
    ],
)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_an_allow_that_does_not_name_the_address_does_not_open_it(
    service: ThreadingHTTPServer,  # noqa: F811
    guard_for: Callable[..., Guard],  # noqa: F811
    rule: str,
    spelling: str,
) -> None:
    guard = guard_for(rule, {})
    port = service.server_address[1]
    before = len(_seen(service))
    with pytest.raises(ToolFailed, match="internal address"):
        guard.call("http.get", {"url": f"http://{spelling}:{port}/admin"})
    assert len(_seen(service)) == before


@pytest.mark.parametrize(
    "rule",
    [
        'p, *, http.get, url(url, "http://127.0.0.1:*"), allow',
        'p, *, http.get, url(url, "http://127.0.0.1:*/admin") && !url(url, "http://*:*/x"), allow',
        'p, *, http.get, ip(url, "loopback"), allow',
    ],
)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_rule_written_for_the_address_still_opens_it(
    service: ThreadingHTTPServer,  # noqa: F811
    guard_for: Callable[..., Guard],  # noqa: F811
    rule: str,
    spelling: str,
) -> None:
    guard = guard_for(rule, {})
    port = service.server_address[1]
    assert guard.call("http.get", {"url": f"http://{spelling}:{port}/admin"}) == "host service secret"


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_person_who_approved_the_address_opens_it(
    service: ThreadingHTTPServer,  # noqa: F811
    guard_for: Callable[..., Guard],  # noqa: F811
    spelling: str,
) -> None:
    """The approver is shown the URL in normal form (``http://127.0.0.1:port/admin``): the address."""
    guard = guard_for('p, *, http.get, url(url, "http://*:*"), ask', {})
    port = service.server_address[1]
    assert guard.call("http.get", {"url": f"http://{spelling}:{port}/admin"}) == "host service secret"


@pytest.mark.parametrize("address", ["168.63.129.16"])
def test_cloud_host_endpoints_outside_private_ranges_are_internal(address: str) -> None:
    """Azure's WireServer (168.63.129.16: the VM agent's configuration, extension settings) is a
    public address every Azure VM reaches: it was not ``internal``, so an allow on a name resolving
    there, or on ``http://*``, reached it. (Checked on the ranges: a test must not connect there.)"""
    assert is_internal(address)
    assert any(ipaddress.ip_address(address) in net for net in parse_ranges(["metadata"]))
