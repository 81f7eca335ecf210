"""Run inside a fresh network namespace by ``test_bypass_host_own_address.py``: this machine's own
address outside every ``internal`` range (a public address on an interface, like a cloud VM's or the
documentation address ``198.51.100.7`` put on ``lo`` here) reaches the host's services as loopback does.

Prints one JSON object: what ``http.get`` and the egress proxy did with a name resolving there.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from agentguard import Guard, Settings, ToolFailed
from agentguard.policy import PolicyEngine
from agentguard.settings import DEFAULT_POLICY_DIR
from agentguard.testing import FakeResolver, MemoryAudit, ScriptedApprover
from agentguard.tools._internal import is_internal
from agentguard.tools._own_address import _source_is_itself
from agentguard.tools.web import http_get
from tests.tools.egress_rig import exchange

OWN_V4 = "198.51.100.7"
OWN_V6 = "2001:db8::7"
OTHER = "198.51.100.8"  # not on any interface here
LAN_V4, LAN_V6 = "192.0.2.9", "2001:db8:5::1"  # neighbours on the LAN interface's networks
ELSEWHERE_V6 = "2001:db8:6::1"
RESOLVER = {"own.test": [OWN_V4], "lan.test": [LAN_V6], "lan4.test": [LAN_V4]}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        body = b"host service secret"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


# The ip() deny on another range makes the engine resolve the name (the address is pinned).
NAME_RULES = (
    'p, *, http.get, ip(url, "203.0.113.0/24"), deny\np, *, http.get, url(url, "http://*.test:*"), allow\n'
)
ADDRESS_RULES = f'p, *, http.get, ip(url, "{OWN_V4}/32"), allow\n'


def _http_get(tmp: Path, port: int, rules: str, host: str = "own.test") -> str:
    policy = tmp / f"web-policy-{len(rules)}-{host}"
    policy.mkdir()
    (policy / "model.conf").write_text((DEFAULT_POLICY_DIR / "model.conf").read_text())
    (policy / "policy.csv").write_text(rules)
    guard = Guard(
        PolicyEngine.load(policy, workspace=tmp, resolver=FakeResolver(RESOLVER)),
        approver=ScriptedApprover(),
        audit=MemoryAudit(),
        settings=Settings(home=tmp / "home", workspace=tmp),
    )
    guard.register("http.get", http_get)
    try:
        return str(guard.call("http.get", {"url": f"http://{host}:{port}/admin"}))
    except ToolFailed as exc:
        return f"refused: {exc}"
    finally:
        guard.close()


def main() -> None:
    server = ThreadingHTTPServer((OWN_V4, 0), _Handler)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        result["http_get"] = _http_get(Path(tmp), port, NAME_RULES)
        head = f"GET http://own.test:{port}/admin HTTP/1.1\r\nHost: own.test\r\n\r\n".encode()
        (Path(tmp) / "egress").mkdir()
        answer = exchange(
            Path(tmp) / "egress",
            'p, *, net.connect, url(url, "http://*.test:*"), allow\n',
            head,
            FakeResolver(RESOLVER),
            half_close=True,
        )
        result["egress"] = answer.decode("utf-8", "replace")
        result["http_get_lan"] = _http_get(Path(tmp), port, NAME_RULES, "lan.test")
        result["http_get_lan_v4"] = _http_get(Path(tmp), port, NAME_RULES, "lan4.test")
        (Path(tmp) / "egress-lan").mkdir()
        head = f"GET http://lan.test:{port}/admin HTTP/1.1\r\nHost: lan.test\r\n\r\n".encode()
        answer = exchange(
            Path(tmp) / "egress-lan",
            'p, *, net.connect, url(url, "http://*.test:*"), allow\n',
            head,
            FakeResolver(RESOLVER),
            half_close=True,
        )
        result["egress_lan"] = answer.decode("utf-8", "replace")
    server.shutdown()
    server.server_close()
    result["seen"] = list(server.seen)  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as tmp:  # a rule naming the address still reaches it
        server = ThreadingHTTPServer((OWN_V4, port), _Handler)
        server.seen = []  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        result["http_get_named"] = _http_get(Path(tmp), port, ADDRESS_RULES)
        server.shutdown()
        server.server_close()
    # the check used where netlink is not available: the host's own address only
    result["portable"] = {
        a: _source_is_itself(ipaddress.ip_address(a)) for a in (OWN_V4, OWN_V6, OTHER, LAN_V6)
    }
    result["internal"] = {a: is_internal(a) for a in (OWN_V4, OWN_V6, OTHER, LAN_V4, LAN_V6, ELSEWHERE_V6)}
    with contextlib.suppress(OSError):
        sys.stdout.flush()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    socket.setdefaulttimeout(20)
    main()
