"""One connection from a sandbox through the egress proxy: its request, then the decided connection.

``Connection.run`` is what a guarded ``net.connect`` executes (see :mod:`agentguard.tools.egress`):
take the pinned addresses (or resolve), refuse internal ones without an ``ip()`` rule, dial, then
check the TLS ClientHello and splice the tunnel, or forward exactly one HTTP request.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import h11

from agentguard.context import current_call
from agentguard.errors import ToolFailed
from agentguard.models import Decision, Effect
from agentguard.policy._urls import ParsedUrl, UnreadableUrl, parse_url
from agentguard.tools._egress_headers import HOP_BY_HOP, routes_elsewhere
from agentguard.tools._egress_hello import HelloGate
from agentguard.tools._egress_override import BODY_LIMIT, body_refusal, query_overrides
from agentguard.tools._internal import decision_names_address, is_internal

__all__ = ["TOOL", "Connection", "Dialer", "Refused", "is_address", "next_event", "respond"]

TOOL = "net.connect"
_ADDRESS_REFS = frozenset({"host", "url"})


class Dialer(Protocol):
    """What a connection needs of the proxy: addresses for a host, a connected socket, its timeouts."""

    head_timeout_s: float
    idle_timeout_s: float

    def addresses(self, host: str, decision: Decision) -> Sequence[str]: ...

    def dial(self, addresses: Sequence[str], port: int) -> tuple[socket.socket, str]: ...


class Refused(Exception):
    """The request is refused before any decision (bad request, no call running)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def respond(sock: socket.socket, status: int, message: str) -> None:
    reason = {400: "Bad Request", 403: "Forbidden", 413: "Content Too Large", 502: "Bad Gateway"}.get(
        status, "Error"
    )
    body = ("agentguard egress: " + message.replace("\r", " ").replace("\n", " ") + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with contextlib.suppress(OSError):
        sock.sendall(head + body)


class _Counter:
    def __init__(self) -> None:
        self.up = 0
        self.down = 0


def _copy(src: socket.socket, dst: socket.socket, counter: _Counter, upward: bool) -> None:
    try:
        while True:
            data = src.recv(262144)
            if not data:
                break
            dst.sendall(data)
            if upward:
                counter.up += len(data)
            else:
                counter.down += len(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _splice(client: socket.socket, upstream: socket.socket, counter: _Counter, idle_s: float) -> None:
    for s in (client, upstream):
        s.settimeout(idle_s)
    up = threading.Thread(target=_copy, args=(client, upstream, counter, True), daemon=True)
    up.start()
    _copy(upstream, client, counter, False)
    up.join()


class Connection:
    """One client connection: its request, and the decided connection it becomes."""

    def __init__(
        self, proxy: Dialer, client: socket.socket, conn: h11.Connection, request: h11.Request
    ) -> None:
        self.proxy = proxy
        self.client = client
        self.conn = conn
        self.request = request
        self.responded = False
        self.counter = _Counter()
        self.tunnel = request.method == b"CONNECT"
        self.parsed = self._target()
        self.body: bytes | None = None  # a plain request's body, read before the decision (read_body)
        # Set by the proxy once it knows whose call this is: the policy's answer for other arguments.
        self.redecide: Callable[[dict[str, Any]], Decision] | None = None

    def _target(self) -> ParsedUrl:
        target = self.request.target.decode("ascii", "replace")
        text = f"https://{target}/" if self.tunnel else target
        if self.request.method != self.request.method.upper():
            # Methods are case-sensitive, yet Werkzeug and Django read ``delete`` as DELETE: a
            # rule on the method would decide one spelling and the server run another.
            raise Refused(400, f"method {self.method!r} is not in upper case")
        if self.tunnel and ("/" in target or "@" in target or ":" not in target):
            raise Refused(400, f"CONNECT needs host:port, got {target!r}")
        try:
            parsed = parse_url(text)
        except UnreadableUrl as exc:
            raise Refused(400, f"unreadable target {target!r}: {exc.reason}") from None
        names = {k.lower() for k, _ in self.request.headers}
        if b"transfer-encoding" in names and b"content-length" in names:
            # Two framings: a server that reads the other one sees a second request (RFC 9112 6.1).
            raise Refused(400, "Content-Length together with Transfer-Encoding is refused")
        if not self.tunnel and parsed.scheme != "http":
            raise Refused(400, "plain requests must use an absolute http:// URL (https goes through CONNECT)")
        overrides = set() if self.tunnel else query_overrides(urlsplit(parsed.href).query) - {self.method}
        if overrides:
            raise Refused(
                400, f"a _method parameter asks the server for {sorted(overrides)}, not {self.method!r}"
            )
        if parsed.port is None or not 0 < parsed.port < 65536:
            raise Refused(400, f"no usable port in {target!r}")
        return parsed

    def read_body(self) -> None:
        """Read a plain request's body before the decision: a ``_method`` in it (a form, multipart,
        JSON) would make the server run another method than the one decided, so it is refused."""
        if self.tunnel:
            return
        lengths = [int(v) for k, v in self.request.headers if k.lower() == b"content-length"]
        if lengths and max(lengths) > BODY_LIMIT:
            raise Refused(413, f"a plain HTTP request body over {BODY_LIMIT} bytes cannot be checked")
        if self.conn.they_are_waiting_for_100_continue:
            self.client.sendall(self.conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
        body = bytearray()
        while True:
            event = next_event(self.conn, self.client, None)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > BODY_LIMIT:
                    raise Refused(413, f"a plain HTTP request body over {BODY_LIMIT} bytes cannot be checked")
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise Refused(400, f"unexpected {type(event).__name__} in the request body")
        problem = body_refusal(self.method, self.request.headers, bytes(body))
        if problem is not None:
            raise Refused(400, problem)
        self.body = bytes(body)

    def arguments(self, parent_call: str | None) -> dict[str, Any]:
        p = self.parsed
        host = f"[{p.ip.compressed}]" if isinstance(p.ip, ipaddress.IPv6Address) else p.host
        return {
            "host": host,
            "port": p.port,
            "scheme": "https" if self.tunnel else "http",
            "url": p.href,
            "parent_call": parent_call,
            "method": self.method,
        }

    @property
    def method(self) -> str:
        """The request's method (``CONNECT`` for a tunnel): decided, audited, and the one sent."""
        return self.request.method.decode("ascii")

    # -- the decided connection (runs inside the guarded call) --------------------------------------
    def run(
        self,
        host: str,
        port: int,
        scheme: str,
        url: str,
        parent_call: str | None = None,
        method: str | None = None,
    ) -> Any:
        ctx = current_call()
        if ctx is None:
            raise ToolFailed("net.connect ran outside a guarded call", tool=TOOL)
        if (scheme == "https") != self.tunnel:
            raise ToolFailed("the decided scheme does not fit the request", tool=TOOL, scheme=scheme)
        if method != self.method:  # e.g. an approver's edit: the request's body is framed for its own
            raise ToolFailed("the decided method is not the request's", tool=TOOL, method=method)
        bare = host[1:-1] if host.startswith("[") else host
        try:
            decided = parse_url(url)
        except UnreadableUrl as exc:
            raise ToolFailed(f"unreadable decided url: {exc.reason}", tool=TOOL) from None
        if decided.host != bare or decided.port != port or decided.scheme != scheme:
            raise ToolFailed("the decided url does not name the decided host and port", tool=TOOL, url=url)
        addresses = self.proxy.addresses(bare, ctx.decision)
        for address in addresses:
            if is_internal(address):
                approved = ctx.decision.effect is Effect.ASK  # it ran, so a person approved it
                self._check_internal(host, address, port, scheme, url, parent_call, approved, method)
        upstream, address = self.proxy.dial(addresses, port)
        try:
            if self.tunnel:
                sni = self._tunnel(upstream, bare)
                return {
                    "address": address,
                    "sni": sni,
                    "bytes_up": self.counter.up,
                    "bytes_down": self.counter.down,
                }
            status = self._forward(upstream, url)
            return {
                "address": address,
                "status": status,
                "bytes_up": self.counter.up,
                "bytes_down": self.counter.down,
            }
        finally:
            with contextlib.suppress(OSError):
                upstream.close()

    def _check_internal(
        self,
        host: str,
        address: str,
        port: int,
        scheme: str,
        url: str,
        parent_call: str | None,
        approved: bool,
        method: str | None,
    ) -> None:
        """An internal address is reached only if the policy allows the address itself, by an ip() rule.

        The call is decided again with the address in place of the name: an allow on a name (or a
        rule on the name that merely excludes other ranges) is not an allow on what it resolves to.
        ``approved``: a person approved this call, so an ip() rule that asks is enough.
        """
        literal = f"[{address}]" if ":" in address else address
        rest = url.split("://", 1)[1].partition("/")[2]
        arguments = {
            "host": literal,
            "port": port,
            "scheme": scheme,
            "url": f"{scheme}://{literal}:{port}/{rest}",
            "parent_call": parent_call,
            "method": method,
        }
        decision = self.redecide(arguments) if self.redecide is not None else None
        allowed = {Effect.ALLOW, Effect.ASK} if approved else {Effect.ALLOW}
        if (
            decision is None
            or decision.effect not in allowed
            or not decision_names_address(decision, address, _ADDRESS_REFS)
        ):
            raise ToolFailed(
                f"{host} is an internal address ({address}): reached only when the deciding rule "
                "names that address in a positive ip() range",
                tool=TOOL,
                address=address,
            )

    def _tunnel(self, upstream: socket.socket, host: str) -> str | None:
        self.client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.responded = True
        literal = is_address(host)

        def check(sni: str | None) -> None:
            if sni is not None and (literal or sni != host.lower().rstrip(".")):
                raise ToolFailed(
                    f"tunnel to {host} refused: the TLS server name is {sni!r}", tool=TOOL, sni=sni, host=host
                )

        held = bytearray(self.conn.trailing_data[0])  # sent right after the CONNECT head
        gate = HelloGate(self.client, upstream, held, self.proxy.head_timeout_s, check)
        try:
            sni = gate.run()
        finally:
            self.counter.up += gate.up
            self.counter.down += gate.down
        _splice(self.client, upstream, self.counter, self.proxy.idle_timeout_s)
        return sni

    def _forward(self, upstream: socket.socket, url: str) -> int:
        decided = parse_url(url)
        authority = decided.href.split("://", 1)[1].split("/", 1)[0]
        target = "/" + decided.href.split("://", 1)[1].partition("/")[2]
        up = h11.Connection(h11.CLIENT)
        headers = [
            (k, v) for k, v in self.request.headers if k.lower() not in HOP_BY_HOP and not routes_elsewhere(k)
        ]
        headers += [(b"host", authority.encode()), (b"connection", b"close")]
        upstream.settimeout(self.proxy.idle_timeout_s)
        self.client.settimeout(self.proxy.idle_timeout_s)
        if self.body is None:
            raise ToolFailed("the request body was not read before the decision", tool=TOOL)
        self._up(upstream, up.send(h11.Request(method=self.request.method, target=target, headers=headers)))
        if self.body:  # the body that was checked, framed as the request framed it
            self._up(upstream, up.send(h11.Data(data=self.body)))
        self._up(upstream, up.send(h11.EndOfMessage()))
        status = 0
        while True:
            event = next_event(up, upstream, self.counter)
            if isinstance(event, h11.InformationalResponse):
                continue  # 1xx stays between proxy and server
            if isinstance(event, h11.Response):
                status = event.status_code
                kept = [(k, v) for k, v in event.headers if k.lower() not in HOP_BY_HOP]
                response = h11.Response(
                    status_code=status, headers=[*kept, (b"connection", b"close")], reason=event.reason
                )
                self.client.sendall(self.conn.send(response) or b"")
                self.responded = True
            elif isinstance(event, h11.Data):
                self.client.sendall(self.conn.send(h11.Data(data=event.data)) or b"")
            elif isinstance(event, h11.EndOfMessage):
                self.client.sendall(self.conn.send(h11.EndOfMessage()) or b"")
                return status
            else:
                raise ToolFailed(f"the server ended the response early ({type(event).__name__})", tool=TOOL)

    def _up(self, upstream: socket.socket, data: bytes | None) -> None:
        if data:
            upstream.sendall(data)
            self.counter.up += len(data)


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def next_event(conn: h11.Connection, sock: socket.socket, counter: _Counter | None) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = sock.recv(262144)
        if counter is not None:
            counter.down += len(data)
        conn.receive_data(data)
        if not data:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                raise ToolFailed("the connection closed mid-message", tool=TOOL)
            return event
