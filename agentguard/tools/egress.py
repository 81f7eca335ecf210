"""The egress proxy of ``network = "policy"`` sandboxes: every new connection is a guarded ``net.connect``.

A policy-network container has no network interface but ``lo``. Its only way out is a Unix socket
this proxy listens on, mounted read-only into the container (one socket per container, so every
connection is known to come from that container and is decided for the call whose code runs there).
Inside, ``127.0.0.1:3128`` forwards to it and ``HTTP_PROXY``/``HTTPS_PROXY`` point there.

Per connection the proxy reads one HTTP request head: ``CONNECT host:port`` (a TLS tunnel) or an
absolute-form ``GET http://host/...`` (one plain HTTP request). It then makes the guarded call
``net.connect(host, port, scheme, url, parent_call)`` through the same guard, agent and session as
the call that ran the code, so the policy allows, asks (the same approval queue; "approve always"
becomes a grant on the URL's host) or denies it, and the audit log records it like any call, with
the address and byte counts in its ``execution.finished`` record.

What runs is what was decided:

* names are resolved here, never in the container: to the addresses the policy's ``ip()``
  conditions checked (``Decision.resolved``), else by one lookup; the connection goes to those;
* an address inside the ``internal`` ranges (loopback, private, link-local, metadata, ...) is
  refused unless a rule that matched the call tested addresses with ``ip()``: an allow rule on a
  name is not an allow on whatever that name resolves to;
* a CONNECT tunnel must start with a TLS ClientHello whose server name (SNI), when present, is the
  decided host; anything else is refused before a byte reaches the server;
* a plain HTTP connection carries exactly one request (``Connection: close``), with ``Host`` set
  from the decided URL, so a second request cannot ride on a decision about the first.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h11
import structlog

from agentguard.context import ToolCaller, current_call
from agentguard.errors import AgentGuardError, ToolFailed
from agentguard.models import Decision
from agentguard.policy._addresses import Resolver, SystemResolver, parse_ranges, reachable_addresses
from agentguard.policy._urls import ParsedUrl, UnreadableUrl, parse_url
from agentguard.sandbox_api import EGRESS_SOCKET
from agentguard.tools._egress_tls import RECORD_HEADER, ClientHelloError, record_length, server_name

__all__ = ["EgressOwner", "EgressProxy", "net_connect"]

log = structlog.get_logger("agentguard.egress")

TOOL = "net.connect"
_HEAD_LIMIT = 65536
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"proxy-connection",
        b"keep-alive",
        b"proxy-authorization",
        b"proxy-authenticate",
        b"te",
        b"trailer",
        b"upgrade",
        b"host",
    }
)
_INTERNAL = parse_ranges(["internal"])


@dataclass(frozen=True, slots=True)
class EgressOwner:
    """Whose code runs in the container: connections are decided and audited as this agent's calls."""

    guard: ToolCaller
    agent: str | None = None
    session: str | None = None
    framework: str | None = None
    parent_call: str | None = None


def net_connect(host: str, port: int, scheme: str, url: str, parent_call: str | None = None) -> Any:
    """A connection out of a ``network = "policy"`` sandbox, decided and opened by the egress proxy.

    Registered so the policy, approvals and audit know the tool; called directly it refuses.
    """
    raise ToolFailed(
        "net.connect is opened only by the sandbox egress proxy, never called directly", tool=TOOL
    )


class _Refused(Exception):
    """The request is refused before any decision (bad request, no call running)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _respond(sock: socket.socket, status: int, message: str) -> None:
    reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}.get(status, "Error")
    body = ("agentguard egress: " + message.replace("\r", " ").replace("\n", " ") + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with contextlib.suppress(OSError):
        sock.sendall(head + body)


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return any(a in net for a in reachable_addresses(ip) for net in _INTERNAL)


def _ip_rule_matched(decision: Decision) -> bool:
    refs = [r for r in (decision.rule, *decision.matched) if r is not None]
    return any("ip(" in ref.text.replace(" ", "") for ref in refs)


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


class _Connection:
    """One client connection: its request, and the decided connection it becomes."""

    def __init__(
        self, proxy: EgressProxy, client: socket.socket, conn: h11.Connection, request: h11.Request
    ) -> None:
        self.proxy = proxy
        self.client = client
        self.conn = conn
        self.request = request
        self.responded = False
        self.counter = _Counter()
        self.tunnel = request.method == b"CONNECT"
        self._pending: bytearray | None = None
        self.parsed = self._target()

    def _target(self) -> ParsedUrl:
        target = self.request.target.decode("ascii", "replace")
        text = f"https://{target}/" if self.tunnel else target
        if self.tunnel and ("/" in target or "@" in target or ":" not in target):
            raise _Refused(400, f"CONNECT needs host:port, got {target!r}")
        try:
            parsed = parse_url(text)
        except UnreadableUrl as exc:
            raise _Refused(400, f"unreadable target {target!r}: {exc.reason}") from None
        if not self.tunnel and parsed.scheme != "http":
            raise _Refused(
                400, "plain requests must use an absolute http:// URL (https goes through CONNECT)"
            )
        if parsed.port is None or not 0 < parsed.port < 65536:
            raise _Refused(400, f"no usable port in {target!r}")
        return parsed

    def arguments(self, parent_call: str | None) -> dict[str, Any]:
        p = self.parsed
        host = f"[{p.ip.compressed}]" if isinstance(p.ip, ipaddress.IPv6Address) else p.host
        return {
            "host": host,
            "port": p.port,
            "scheme": "https" if self.tunnel else "http",
            "url": p.href,
            "parent_call": parent_call,
        }

    # -- the decided connection (runs inside the guarded call) --------------------------------------
    def run(self, host: str, port: int, scheme: str, url: str, parent_call: str | None = None) -> Any:
        ctx = current_call()
        if ctx is None:
            raise ToolFailed("net.connect ran outside a guarded call", tool=TOOL)
        if (scheme == "https") != self.tunnel:
            raise ToolFailed("the decided scheme does not fit the request", tool=TOOL, scheme=scheme)
        bare = host[1:-1] if host.startswith("[") else host
        addresses = self.proxy.addresses(bare, ctx.decision)
        if any(_is_internal(a) for a in addresses) and not _ip_rule_matched(ctx.decision):
            raise ToolFailed(
                f"{host} is an internal address ({', '.join(addresses)}): allowed only by a rule that "
                "tests the address with ip()",
                tool=TOOL,
                addresses=list(addresses),
            )
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

    def _tunnel(self, upstream: socket.socket, host: str) -> str | None:
        self.client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.responded = True
        first = self._read_exact(RECORD_HEADER)
        try:
            record = first + self._read_exact(record_length(first) - RECORD_HEADER)
            sni = server_name(record)
        except ClientHelloError as exc:
            raise ToolFailed(f"tunnel to {host} refused: {exc}", tool=TOOL) from None
        is_address = _is_address(host)
        if sni is not None and (is_address or sni != host.lower().rstrip(".")):
            raise ToolFailed(
                f"tunnel to {host} refused: the TLS server name is {sni!r}", tool=TOOL, sni=sni, host=host
            )
        upstream.sendall(record + bytes(self._pending or b""))
        self.counter.up += len(record) + len(self._pending or b"")
        _splice(self.client, upstream, self.counter, self.proxy.idle_timeout_s)
        return sni

    def _read_exact(self, n: int) -> bytes:
        if self._pending is None:  # bytes the client sent right after the CONNECT head come first
            self._pending = bytearray(self.conn.trailing_data[0])
        buf = self._pending
        self.client.settimeout(self.proxy.head_timeout_s)
        while len(buf) < n:
            data = self.client.recv(n - len(buf))
            if not data:
                raise ToolFailed("the client closed the tunnel before its TLS ClientHello", tool=TOOL)
            buf += data
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def _forward(self, upstream: socket.socket, url: str) -> int:
        decided = parse_url(url)
        authority = decided.href.split("://", 1)[1].split("/", 1)[0]
        target = "/" + decided.href.split("://", 1)[1].partition("/")[2]
        up = h11.Connection(h11.CLIENT)
        headers = [(k, v) for k, v in self.request.headers if k.lower() not in _HOP_BY_HOP]
        headers += [(b"host", authority.encode()), (b"connection", b"close")]
        upstream.settimeout(self.proxy.idle_timeout_s)
        self.client.settimeout(self.proxy.idle_timeout_s)
        self._up(upstream, up.send(h11.Request(method=self.request.method, target=target, headers=headers)))
        while True:  # the request body, exactly as framed
            event = _next_event(self.conn, self.client, None)
            if isinstance(event, h11.Data):
                self._up(upstream, up.send(h11.Data(data=event.data)))
            elif isinstance(event, h11.EndOfMessage):
                self._up(upstream, up.send(h11.EndOfMessage()))
                break
            else:
                raise ToolFailed(f"unexpected {type(event).__name__} in the request body", tool=TOOL)
        status = 0
        while True:
            event = _next_event(up, upstream, self.counter)
            if isinstance(event, h11.InformationalResponse):
                continue  # 1xx stays between proxy and server
            if isinstance(event, h11.Response):
                status = event.status_code
                kept = [(k, v) for k, v in event.headers if k.lower() not in _HOP_BY_HOP]
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


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _next_event(conn: h11.Connection, sock: socket.socket, counter: _Counter | None) -> Any:
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


class _Endpoint:
    """One container's socket. ``attach`` says whose call runs there; without one, nothing connects."""

    def __init__(self, proxy: EgressProxy, uid: int) -> None:
        self._proxy = proxy
        self._uid = uid
        self._dir = Path(tempfile.mkdtemp(prefix="agentguard-egress-", dir=proxy.runtime_dir))
        self._path = self._dir / EGRESS_SOCKET
        self._owner: EgressOwner | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self._path))
        os.chmod(self._path, 0o666)  # noqa: S103 - the container user connects; SO_PEERCRED checks who
        os.chmod(self._dir, 0o755)  # noqa: S103 - traversable by the container user
        self._listener.listen(64)
        self._thread = threading.Thread(target=self._accept, name="agentguard-egress-accept", daemon=True)
        self._thread.start()

    @property
    def directory(self) -> str:
        return str(self._dir)

    def attach(self, owner: object | None) -> None:
        if owner is not None and not isinstance(owner, EgressOwner):
            raise TypeError(f"an egress owner must be an EgressOwner, not {type(owner).__name__}")
        with self._lock:
            self._owner = owner

    @property
    def owner(self) -> EgressOwner | None:
        with self._lock:
            return self._owner

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._owner = None
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            creds = client.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid != self._uid:
                log.warning("egress.peer_refused", uid=uid, expected=self._uid)
                client.close()
                continue
            threading.Thread(
                target=self._proxy.handle, args=(client, self), name="agentguard-egress", daemon=True
            ).start()


class EgressProxy:
    """The ``EgressGate`` of the Docker sandbox: endpoints for containers, decisions through the guard.

    ``resolver`` turns names into addresses when no ``ip()`` rule already did (give the policy engine
    the same one). One proxy serves any number of containers; ``close`` ends every endpoint.
    """

    def __init__(
        self,
        resolver: Resolver | None = None,
        *,
        runtime_dir: Path | None = None,
        connect_timeout_s: float = 10.0,
        head_timeout_s: float = 30.0,
        idle_timeout_s: float = 300.0,
    ) -> None:
        self.resolver: Resolver = resolver if resolver is not None else SystemResolver()
        self.runtime_dir = runtime_dir
        self.connect_timeout_s = connect_timeout_s
        self.head_timeout_s = head_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self._endpoints: set[_Endpoint] = set()
        self._lock = threading.Lock()

    def open(self, uid: int) -> _Endpoint:
        endpoint = _Endpoint(self, uid)
        with self._lock:
            self._endpoints.add(endpoint)
        return endpoint

    def close(self) -> None:
        with self._lock:
            endpoints, self._endpoints = list(self._endpoints), set()
        for endpoint in endpoints:
            endpoint.close()

    def addresses(self, host: str, decision: Decision) -> Sequence[str]:
        """The addresses the decision checked for ``host``, else one lookup here."""
        if _is_address(host):
            return [ipaddress.ip_address(host).compressed]
        pinned = decision.resolved.get(host)
        if pinned:
            return pinned
        try:
            found = list(self.resolver.resolve(host))
        except OSError as exc:
            raise ToolFailed(f"{host} does not resolve: {exc}", tool=TOOL) from None
        if not found:
            raise ToolFailed(f"{host} resolves to no address", tool=TOOL)
        return found

    def dial(self, addresses: Sequence[str], port: int) -> tuple[socket.socket, str]:
        error: OSError | None = None
        for address in addresses:
            try:
                return socket.create_connection((address, port), self.connect_timeout_s), address
            except OSError as exc:
                error = exc
        raise ToolFailed(f"cannot connect to port {port} of {', '.join(addresses)}: {error}", tool=TOOL)

    def handle(self, client: socket.socket, endpoint: _Endpoint) -> None:
        """One connection from a container, from its request head to its end."""
        try:
            self._handle(client, endpoint)
        except Exception as exc:  # noqa: BLE001 - a broken client must not take the proxy down
            log.warning("egress.connection_failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(OSError):
                client.close()

    def _handle(self, client: socket.socket, endpoint: _Endpoint) -> None:
        client.settimeout(self.head_timeout_s)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_HEAD_LIMIT)
        try:
            request = _next_event(conn, client, None)
            if not isinstance(request, h11.Request):
                raise _Refused(400, "expected an HTTP request")
            connection = _Connection(self, client, conn, request)
            owner = endpoint.owner
            if owner is None:
                raise _Refused(403, "no guarded call is running in this sandbox")
        except _Refused as exc:
            _respond(client, exc.status, str(exc))
            return
        except (h11.RemoteProtocolError, ToolFailed, OSError) as exc:
            _respond(client, 400, f"unreadable request: {exc}")
            return
        try:
            owner.guard.call(
                TOOL,
                connection.arguments(owner.parent_call),
                agent=owner.agent,
                session=owner.session,
                framework=owner.framework,
                invoke=connection.run,
            )
        except AgentGuardError as exc:
            if not connection.responded:
                status = 502 if isinstance(exc, ToolFailed) else 403
                _respond(client, status, str(exc))
