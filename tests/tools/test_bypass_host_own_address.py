"""Red team: a name resolving to one of this machine's own addresses that no ``internal`` range holds.

A cloud VM or a bare-metal host often carries its public address on an interface. A service bound
to ``0.0.0.0`` there (a dev server, a database, a published container port) answers on that address
just as on loopback, so an allow on a name (``http://*.test:*``) whose DNS answer is the host's own
address reached the host's services from ``http.get`` and through the sandbox egress proxy: the
check was a fixed list of ranges. Now an address the kernel routes to this machine itself is
internal too, and needs a rule that names it with ``ip()``.

A fresh user and network namespace stands for such a host: ``198.51.100.7`` (a documentation
address) on its ``lo``, with an HTTP service bound to it (see ``tests/tools/own_address.py``).
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
    assert outcome["internal"] == {"198.51.100.7": True, "2001:db8::7": True, "198.51.100.8": False}


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
