"""Red team: a name resolving to this machine's own address, or to a neighbour on its LAN, outside
every ``internal`` range.

A cloud VM or a bare-metal host often carries its public address on an interface. A service bound
to ``0.0.0.0`` there (a dev server, a database, a published container port) answers on that address
just as on loopback, so an allow on a name (``http://*.test:*``) whose DNS answer is the host's own
address reached the host's services from ``http.get`` and through the sandbox egress proxy: the
check was a fixed list of ranges. The same for a LAN with public addresses (every IPv6 home or
office network: the router's admin page at ``prefix::1``, a NAS; one connection from the host tells
a server its prefix). Now an address the kernel routes to this machine itself, or one on a network
an interface of it is on, is internal too, and needs a rule that names it with ``ip()``.

A fresh user and network namespace stands for such a host: ``198.51.100.7`` (a documentation
address) on its ``lo``, with an HTTP service bound to it, and a LAN interface with ``192.0.2.7/24``
and ``2001:db8:5::7/64`` (see ``tests/tools/own_address.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

_ROOT = Path(__file__).resolve().parents[2]
_SETUP = (
    "ip link set lo up && ip addr add 198.51.100.7/32 dev lo && ip -6 addr add 2001:db8::7/128 dev lo"
    " && ip link add lan0 type veth peer name lan1 && ip link set lan0 up && ip link set lan1 up"
    " && ip addr add 192.0.2.7/24 dev lan0 && ip -6 addr add 2001:db8:5::7/64 dev lan0 nodad"
    ' && exec "$0" -m tests.tools.own_address'
)


@pytest.fixture(scope="module")
def outcome() -> dict[str, Any]:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare(1) and ip(8) to make a network namespace")
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--net", "true"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"user and network namespaces are not available: {probe.stderr.decode()!r}")
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--net", "sh", "-c", _SETUP, sys.executable],
        capture_output=True,
        cwd=_ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_own_addresses_are_internal(outcome: dict[str, Any]) -> None:
    assert outcome["internal"] == {
        "198.51.100.7": True,
        "2001:db8::7": True,
        "198.51.100.8": False,
        "192.0.2.9": True,
        "2001:db8:5::1": True,
        "2001:db8:6::1": False,
    }


def test_where_netlink_is_missing_the_own_address_is_still_found(outcome: dict[str, Any]) -> None:
    assert outcome["portable"] == {
        "198.51.100.7": True,
        "2001:db8::7": True,
        "198.51.100.8": False,
        "2001:db8:5::1": False,
    }


def test_http_get_does_not_reach_the_host_through_its_own_address(outcome: dict[str, Any]) -> None:
    assert outcome["http_get"].startswith("refused:"), outcome["http_get"]
    assert "internal address" in outcome["http_get"]


def test_the_egress_proxy_does_not_reach_the_host_through_its_own_address(outcome: dict[str, Any]) -> None:
    assert outcome["egress"].startswith("HTTP/1.1 502"), outcome["egress"]
    assert "internal address" in outcome["egress"]


def test_the_host_service_never_saw_a_request(outcome: dict[str, Any]) -> None:
    assert outcome["seen"] == []


def test_a_rule_naming_the_address_with_ip_still_reaches_it(outcome: dict[str, Any]) -> None:
    assert outcome["http_get_named"] == "host service secret"


def test_a_neighbour_on_the_lan_is_not_reached_through_a_name(outcome: dict[str, Any]) -> None:
    for answer in (outcome["http_get_lan"], outcome["http_get_lan_v4"]):
        assert answer.startswith("refused:"), answer
        assert "internal address" in answer
    assert outcome["egress_lan"].startswith("HTTP/1.1 502"), outcome["egress_lan"]
    assert "internal address" in outcome["egress_lan"]
