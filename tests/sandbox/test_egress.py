"""``network = "policy"``: every connection out of the sandbox is a guarded ``net.connect``.

Real Docker, a real egress proxy, and a test internet the tests start (an HTTP and an HTTPS server
on a private internal Docker network); no traffic goes to any other address.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentguard.testing import ScriptedApprover
from tests.sandbox.egress_setup import Egress, make_egress
from tests.sandbox.internet import HTTP_PORT, HTTPS_PORT, Internet, running_internet

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def internet(images: list[Any], docker_client: Any) -> Iterator[Internet]:
    with running_internet(docker_client) as net:
        yield net


def _egress(
    tmp_path: Path, internet: Internet, docker_client: Any, rules: str, **kw: Any
) -> Iterator[Egress]:
    yield from make_egress(tmp_path, internet, docker_client, rules, **kw)


# The test internet is on a private network: the rule must allow its address itself, by ip().
ALLOW_WEB = (
    'p, *, net.connect, ip(host, "{addr}/32"), allow\np, *, net.connect, url(url, "*://other.test:*"), deny\n'
)


@pytest.fixture
def web(tmp_path: Path, internet: Internet, docker_client: Any) -> Iterator[Egress]:
    yield from _egress(tmp_path, internet, docker_client, ALLOW_WEB.format(addr=internet.address))


def fetch(url: str, cert: str | None = None) -> str:
    """Python code for the sandbox: fetch ``url`` through the proxy variables, print status or error."""
    ctx = f"ssl.create_default_context(cadata={cert!r})" if cert else "None"
    return (
        "import ssl, urllib.request, urllib.error\n"
        "try:\n"
        f"    r = urllib.request.urlopen({url!r}, timeout=20, context={ctx})\n"
        "    print('OK', r.read().decode().strip())\n"
        "except urllib.error.HTTPError as e:\n"
        "    print('HTTP', e.code, e.read().decode().strip())\n"
        "except Exception as e:\n"
        "    print('ERR', type(e).__name__, e)\n"
    )


def test_allowed_http_and_https_go_through_and_are_audited_under_the_call(web: Egress) -> None:
    net = web.internet
    code = fetch(f"{net.http_url}/a?b=1") + fetch(f"{net.https_url}/s", net.cert_pem)
    result = web.run(code)
    assert result.ok, result
    lines = result.stdout.splitlines()
    assert lines[0] == f"OK hello http host=web.test:{HTTP_PORT} path=/a?b=1"
    assert lines[1] == f"OK hello https host=web.test:{HTTPS_PORT} path=/s"
    exec_call = next(r for r in web.audit.records if r["tool"] == "python.exec")["call_id"]
    http, https = web.connects()
    assert http["arguments"] == {
        "host": "web.test",
        "port": HTTP_PORT,
        "scheme": "http",
        "url": f"http://web.test:{HTTP_PORT}/a?b=1",
        "parent_call": exec_call,
        "method": "GET",
    }
    assert https["arguments"]["scheme"] == "https"
    assert https["arguments"]["url"] == f"https://web.test:{HTTPS_PORT}/"
    for entry in (http, https):
        assert entry["events"][-1] == "execution.finished"
        assert f"'address': '{net.address}'" in entry["result"]
        assert "'bytes_down': 0" not in entry["result"]
    assert "'sni': 'web.test'" in https["result"]


def test_a_host_no_rule_allows_is_refused_with_403(web: Egress) -> None:
    result = web.run(fetch(f"http://other.test:{HTTP_PORT}/x") + fetch(f"https://other.test:{HTTPS_PORT}/"))
    lines = result.stdout.splitlines()
    assert lines[0].startswith("HTTP 403 agentguard egress:"), lines
    assert lines[1].startswith("ERR"), lines
    assert "403" in lines[1], lines
    for entry in web.connects():
        assert "execution.started" not in entry["events"]
        assert "call.refused" in entry["events"] or "policy.decided" in entry["events"]


def test_a_name_resolving_to_an_internal_address_needs_an_ip_rule(
    tmp_path: Path, internet: Internet, docker_client: Any
) -> None:
    # The rule allows the name, but web.test resolves into a private range and no ip() looked at it.
    for eg in _egress(
        tmp_path, internet, docker_client, 'p, *, net.connect, url(url, "*://web.test:*"), allow\n'
    ):
        result = eg.run(fetch(f"{internet.http_url}/"))
        assert result.stdout.startswith("HTTP 502 agentguard egress:"), result.stdout
        assert "internal address" in result.stdout
        (entry,) = eg.connects()
        assert entry["events"][-1] == "execution.failed"


def test_ask_goes_to_the_approver_and_its_answer_holds(
    tmp_path: Path, internet: Internet, docker_client: Any
) -> None:
    rules = f'p, *, net.connect, ip(host, "{internet.address}/32"), ask\n'
    approver = ScriptedApprover(["approve", "deny: not today"])
    for eg in _egress(tmp_path, internet, docker_client, rules, approver=approver):
        result = eg.run(fetch(f"{internet.http_url}/first") + fetch(f"{internet.http_url}/second"))
        first, second = result.stdout.splitlines()
        assert first.startswith("OK hello http"), first
        assert second.startswith("HTTP 403"), second
        assert "not today" in second, second
        assert [r.call.arguments["url"] for r in approver.requests] == [
            f"http://web.test:{HTTP_PORT}/first",
            f"http://web.test:{HTTP_PORT}/second",
        ]


def test_tls_for_another_server_name_is_refused(web: Egress) -> None:
    # CONNECT names the allowed host, the ClientHello asks for another one (domain fronting).
    code = (
        "import socket, ssl\n"
        "s = socket.create_connection(('127.0.0.1', 3128), timeout=20)\n"
        f"s.sendall(b'CONNECT web.test:{HTTPS_PORT} HTTP/1.1\\r\\nHost: web.test\\r\\n\\r\\n')\n"
        "print(s.recv(100).split(b'\\r\\n')[0].decode())\n"
        "ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n"
        "try:\n"
        "    t = ctx.wrap_socket(s, server_hostname='other.test')\n"
        "    print('TLS UP')\n"
        "except Exception as e:\n"
        "    print('TLS FAILED', type(e).__name__)\n"
    )
    result = web.run(code)
    lines = result.stdout.splitlines()
    assert lines[0] == "HTTP/1.1 200 Connection established"
    assert lines[1].startswith("TLS FAILED SSL"), lines  # the proxy closed: EOF or zero-return
    (entry,) = web.connects()
    assert entry["events"][-1] == "execution.failed"
    assert "TLS server name is 'other.test'" in entry["error"]["message"]


def test_a_tunnel_that_does_not_carry_tls_is_refused(web: Egress) -> None:
    code = (
        "import socket\n"
        "s = socket.create_connection(('127.0.0.1', 3128), timeout=20)\n"
        f"s.sendall(b'CONNECT web.test:{HTTP_PORT} HTTP/1.1\\r\\nHost: web.test\\r\\n\\r\\n')\n"
        "print(s.recv(100).split(b'\\r\\n')[0].decode())\n"
        "s.sendall(b'GET / HTTP/1.1\\r\\nHost: web.test\\r\\n\\r\\n')\n"
        "print(repr(s.recv(100)))\n"
    )
    result = web.run(code)
    assert result.stdout.splitlines() == ["HTTP/1.1 200 Connection established", "b''"]
    (entry,) = web.connects()
    assert "does not start with a TLS handshake" in entry["error"]["message"]


def test_one_plain_request_per_connection_and_host_from_the_decided_url(web: Egress) -> None:
    # A second, pipelined request and a lying Host header: the server sees the decided URL only.
    code = (
        "import socket\n"
        "s = socket.create_connection(('127.0.0.1', 3128), timeout=20)\n"
        f"s.sendall(b'GET http://web.test:{HTTP_PORT}/one HTTP/1.1\\r\\nHost: other.test\\r\\n\\r\\n'\n"
        f"          b'GET http://web.test:{HTTP_PORT}/two HTTP/1.1\\r\\nHost: web.test\\r\\n\\r\\n')\n"
        "data = b''\n"
        "while chunk := s.recv(65536):\n"
        "    data += chunk\n"
        "print(data.decode())\n"
    )
    result = web.run(code)
    assert f"hello http host=web.test:{HTTP_PORT} path=/one" in result.stdout
    assert "/two" not in result.stdout
    assert result.stdout.count("HTTP/1.1 200") == 1
    assert len(web.connects()) == 1


def test_a_request_body_is_forwarded_as_framed(web: Egress) -> None:
    code = (
        "import urllib.request\n"
        f"req = urllib.request.Request({web.internet.http_url + '/p'!r}, data=b'abc' * 1000)\n"
        "r = urllib.request.urlopen(req)\n"
        "print(r.read().decode().strip())\n"
    )
    result = web.run(code)
    assert result.stdout.strip() == "posted 3000 b'abcabcabcabcabcabcab'", result


def test_the_socket_refuses_processes_of_other_users() -> None:
    import os

    from agentguard.tools.egress import EgressProxy

    if os.getuid() == 10001:
        pytest.skip("runs as the container's uid")

    proxy = EgressProxy()
    endpoint = proxy.open(uid=10001)  # the container's user; this test runs as someone else
    try:
        import socket

        s = socket.socket(socket.AF_UNIX)
        s.connect(str(Path(endpoint.directory) / "proxy.sock"))
        s.settimeout(10)
        try:
            s.sendall(b"GET http://web.test/ HTTP/1.1\r\nHost: web.test\r\n\r\n")
            answer = s.recv(100)
        except (ConnectionResetError, BrokenPipeError):
            answer = b""
        assert answer == b""  # closed without an answer
    finally:
        proxy.close()
    assert not Path(endpoint.directory).exists()


def test_socket_directories_of_dead_proxies_are_swept() -> None:
    import os

    from agentguard.tools.egress import EgressProxy

    with tempfile.TemporaryDirectory(prefix="ag-egress-") as short:  # a socket path: <= 107 bytes
        runtime = Path(short)
        dead = runtime / "agentguard-egress-999999999-abc"
        dead.mkdir()
        (dead / "proxy.sock").write_text("")
        alive = runtime / f"agentguard-egress-{os.getppid()}-abc"
        alive.mkdir()
        proxy = EgressProxy(runtime_dir=runtime)
        endpoint = proxy.open(uid=os.getuid())
        assert Path(endpoint.directory).name.startswith(f"agentguard-egress-{os.getpid()}-")
        proxy.close()
        assert not dead.exists()
        assert alive.exists()


def test_a_runtime_dir_too_long_for_a_socket_is_refused_by_name(tmp_path: Path) -> None:
    from agentguard.errors import ConfigError
    from agentguard.tools.egress import EgressProxy

    deep = tmp_path / ("d" * 90)
    deep.mkdir()
    with pytest.raises(ConfigError, match="too long for a socket path") as caught:
        EgressProxy(runtime_dir=deep)
    assert str(deep) in str(caught.value)


def test_a_warm_container_connects_for_the_call_it_serves(
    tmp_path: Path, internet: Internet, docker_client: Any
) -> None:
    # Warm containers exist before any call: their socket refuses until a call's code runs there.
    rules = ALLOW_WEB.format(addr=internet.address)
    for eg in _egress(tmp_path, internet, docker_client, rules, pool_size=1):
        assert eg.sandbox.wait_warm("python", "net", timeout_s=60)
        first = eg.run(fetch(f"{internet.http_url}/one"))
        assert first.warm
        assert first.stdout.startswith("OK hello http"), first
        assert eg.sandbox.wait_warm("python", "net", timeout_s=60)
        second = eg.run(fetch(f"{internet.http_url}/two"))
        assert second.warm
        calls = [r["call_id"] for r in eg.audit.records if r["tool"] == "python.exec"]
        parents = [entry["arguments"]["parent_call"] for entry in eg.connects()]
        assert parents == [calls[0], calls[-1]]
