"""No way around the egress proxy: what a ``network = "policy"`` sandbox tries, and what stops it.

Every attempt targets the test internet's own address, the container's loopback or a listener this
test opens on the host's loopback; nothing is sent anywhere else (the metadata address is only
named: the proxy refuses it before dialling, which the test checks in the audit log).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.egress_setup import Egress, make_egress
from tests.sandbox.internet import HTTP_PORT, Internet, running_internet

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def internet(images: list[Any], docker_client: Any) -> Iterator[Internet]:
    with running_internet(docker_client) as net:
        yield net


@pytest.fixture
def web(tmp_path: Path, internet: Internet, docker_client: Any) -> Iterator[Egress]:
    rule = f'p, *, net.connect, ip(host, "{internet.address}/32"), allow\n'
    yield from make_egress(tmp_path, internet, docker_client, rule)


@pytest.fixture
def allow_all(tmp_path: Path, internet: Internet, docker_client: Any) -> Iterator[Egress]:
    """A careless policy: every connection allowed by a rule that never looks at addresses."""
    yield from make_egress(tmp_path, internet, docker_client, "p, *, net.connect, *, allow\n")


def lines(eg: Egress, code: str) -> list[str]:
    result = eg.run(code)
    assert result.end_reason == "exited", result
    return result.stdout.splitlines()


def test_raw_tcp_to_an_address_has_no_route(web: Egress) -> None:
    code = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(({web.internet.address!r}, {HTTP_PORT}), timeout=5)\n"
        "    print('CONNECTED')\n"
        "except OSError as e:\n"
        "    print('errno', e.errno)\n"
    )
    assert lines(web, code) == ["errno 101"]  # ENETUNREACH: the namespace has no route at all
    assert web.connects() == []  # and the proxy never heard of it


def test_dns_resolves_nothing_and_udp_goes_nowhere(web: Egress) -> None:
    code = (
        "import socket\n"
        "for name in ('web.test', 'localhost.test'):\n"
        "    try:\n"
        "        print(socket.getaddrinfo(name, 80))\n"
        "    except socket.gaierror as e:\n"
        "        print('no answer for', name)\n"
        "query = bytes.fromhex('123401000001000000000000' '03776562047465737400' '00010001')\n"
        f"for where in (({web.internet.address!r}, 53), ('127.0.0.11', 53)):\n"
        "    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "    u.settimeout(2)\n"
        "    try:\n"
        "        u.sendto(query, where)\n"
        "        print('reply', u.recv(512))\n"
        "    except OSError as e:\n"
        "        print('udp', where[0], type(e).__name__, e.errno)\n"
    )
    out = lines(web, code)
    assert out[:2] == ["no answer for web.test", "no answer for localhost.test"]
    assert out[2] == f"udp {web.internet.address} OSError 101"  # no route for UDP either
    assert out[3].startswith("udp 127.0.0.11 ")  # Docker's resolver address is just our own loopback
    assert not any(line.startswith("reply") for line in out)


def test_icmp_needs_a_capability_the_sandbox_does_not_have(web: Egress) -> None:
    code = (
        "import socket\n"
        "for kind in (socket.SOCK_RAW, socket.SOCK_DGRAM):\n"
        "    try:\n"
        "        s = socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP)\n"
        "        s.settimeout(2)\n"
        f"        s.sendto(b'\\x08\\x00\\xf7\\xff\\x00\\x00\\x00\\x00', ({web.internet.address!r}, 0))\n"
        "        print('SENT', kind)\n"
        "    except OSError as e:\n"
        "        print('refused', type(e).__name__, e.errno)\n"
    )
    out = lines(web, code)
    assert out[0] == "refused PermissionError 1"  # raw sockets need CAP_NET_RAW (dropped)
    assert out[1].startswith("refused")
    assert "SENT" not in out[1]


def test_ipv6_has_no_address_and_no_route(web: Egress) -> None:
    code = (
        "import socket\n"
        "print('if6', sorted({l.split()[-1] for l in open('/proc/net/if_inet6')}))\n"
        "routes = [l.split()[-1] for l in open('/proc/net/ipv6_route')]\n"
        "print('routes6', sorted(set(routes)))\n"
        "try:\n"
        "    s = socket.socket(socket.AF_INET6)\n"
        "    s.settimeout(5)\n"
        f"    s.connect(('::ffff:{web.internet.address}', {HTTP_PORT}))\n"
        "    print('CONNECTED')\n"
        "except OSError as e:\n"
        "    print('errno', e.errno)\n"
    )
    out = lines(web, code)
    assert out[0] in ("if6 ['lo']", "if6 []"), out
    assert out[1] in ("routes6 ['lo']", "routes6 []"), out
    assert out[2] == "errno 101"


def test_a_listener_binds_but_nothing_can_reach_it(web: Egress) -> None:
    code = (
        "import socket\n"
        "s = socket.socket(); s.bind(('0.0.0.0', 8000)); s.listen()\n"
        "print('bound', s.getsockname())\n"
        "print('ifaces', sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))\n"
        "print('routes', len(open('/proc/net/route').readlines()) - 1)\n"
    )
    assert lines(web, code) == ["bound ('0.0.0.0', 8000)", "ifaces ['lo']", "routes 0"]


@pytest.fixture
def host_listener() -> Iterator[tuple[int, list[object]]]:
    """A listener on the host's loopback, to see whether anything from the sandbox reaches it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield srv.getsockname()[1], accepted
    stop.set()
    thread.join()
    srv.close()


def _connect_via_proxy(target: str) -> str:
    return (
        "import socket\n"
        "s = socket.create_connection(('127.0.0.1', 3128), timeout=20)\n"
        f"s.sendall(b'CONNECT {target} HTTP/1.1\\r\\nHost: {target}\\r\\n\\r\\n')\n"
        "print(s.recv(300).decode().split('\\r\\n')[0])\n"
    )


def test_the_hosts_loopback_is_not_reachable_through_a_careless_allow(
    allow_all: Egress, host_listener: tuple[int, list[object]]
) -> None:
    port, accepted = host_listener
    out = lines(
        allow_all,
        _connect_via_proxy(f"127.0.0.1:{port}") + _connect_via_proxy(f"loop.test:{port}"),
    )
    assert out == ["HTTP/1.1 502 Bad Gateway", "HTTP/1.1 502 Bad Gateway"]
    assert accepted == []
    for entry in allow_all.connects():
        assert "internal address" in entry["error"]["message"]


def test_an_address_rule_that_only_excludes_other_ranges_does_not_open_loopback(
    tmp_path: Path, internet: Internet, docker_client: Any, host_listener: tuple[int, list[object]]
) -> None:
    # The rule looks at addresses, but only to keep the metadata service out: loop.test -> 127.0.0.1.
    port, accepted = host_listener
    rule = 'p, *, net.connect, url(url, "*://loop.test:*") && !ip(host, "metadata"), allow\n'
    for eg in make_egress(tmp_path, internet, docker_client, rule):
        assert lines(eg, _connect_via_proxy(f"loop.test:{port}")) == ["HTTP/1.1 502 Bad Gateway"]
        (entry,) = eg.connects()
        assert "internal address (127.0.0.1)" in entry["error"]["message"]
    assert accepted == []


def test_the_metadata_address_is_refused_before_any_dial(allow_all: Egress) -> None:
    out = lines(allow_all, _connect_via_proxy("169.254.169.254:80") + _connect_via_proxy("meta.test:80"))
    assert out == ["HTTP/1.1 502 Bad Gateway", "HTTP/1.1 502 Bad Gateway"]
    for entry in allow_all.connects():
        assert "internal address" in entry["error"]["message"]
        assert "cannot connect" not in entry["error"]["message"]


def test_nothing_connects_while_no_call_is_running() -> None:
    import os

    from agentguard.tools.egress import EgressProxy

    proxy = EgressProxy()
    endpoint = proxy.open(uid=os.getuid())  # never attached to a call
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(Path(endpoint.directory) / "proxy.sock"))
        s.sendall(b"CONNECT web.test:443 HTTP/1.1\r\nHost: web.test\r\n\r\n")
        s.settimeout(10)
        assert s.recv(200).startswith(b"HTTP/1.1 403 Forbidden")
    finally:
        proxy.close()


def test_garbage_gets_400_not_a_connection(web: Egress) -> None:
    code = (
        "import socket\n"
        "for req in (b'\\x16\\x03\\x01\\x00\\x05hello\\r\\n\\r\\n',\n"
        "            b'GET /relative HTTP/1.1\\r\\nHost: web.test\\r\\n\\r\\n',\n"
        "            b'CONNECT user@web.test:443 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'):\n"
        "    s = socket.create_connection(('127.0.0.1', 3128), timeout=20)\n"
        "    s.sendall(req)\n"
        "    print(s.recv(300).decode(errors='replace').split('\\r\\n')[0])\n"
    )
    assert lines(web, code) == ["HTTP/1.1 400 Bad Request"] * 3
    assert web.connects() == []
