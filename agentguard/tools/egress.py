"""The egress proxy of ``network = "policy"`` sandboxes: every new connection is a guarded ``net.connect``.

A policy-network container has no network interface but ``lo``. Its only way out is a Unix socket
this proxy listens on, mounted read-only into the container (one socket per container, so every
connection is known to come from that container and is decided for the call whose code runs there).
Inside, ``127.0.0.1:3128`` forwards to it and ``HTTP_PROXY``/``HTTPS_PROXY`` point there.

Per connection the proxy reads one HTTP request head: ``CONNECT host:port`` (a TLS tunnel) or an
absolute-form ``GET http://host/...`` (one plain HTTP request). It then makes the guarded call
``net.connect(host, port, scheme, url, parent_call, method)`` through the same guard, agent and session as
the call that ran the code, so the policy allows, asks (the same approval queue; "approve always"
becomes a grant on the URL's host) or denies it, and the audit log records it like any call, with
the address and byte counts in its ``execution.finished`` record.

What runs is what was decided:

* names are resolved here, never in the container: to the addresses the policy's ``ip()``
  conditions checked (``Decision.resolved``), else by one lookup; the connection goes to those;
* an address inside the ``internal`` ranges (loopback, private, link-local, metadata, ...), or of
  the host itself or a network it is on (``_own_address``), is refused unless a rule that matched
  the call tested addresses with ``ip()``: an allow rule on a name is not an allow on whatever
  that name resolves to;
* a CONNECT tunnel must start with a TLS ClientHello whose server name (SNI), when present, is the
  decided host, and so must the ClientHello after a HelloRetryRequest; anything else is refused
  before a byte reaches the server;
* a plain HTTP connection carries exactly one request (``Connection: close``), with ``Host`` set
  from the decided URL, so a second request cannot ride on a decision about the first; its method
  is decided too, its body is read before the decision and refused if a ``_method`` in it (or in
  the query) asks for another method (:mod:`agentguard.tools._egress_override`), and headers that
  some servers route on instead of the request line, or that name another host or client
  (``X-Original-URL``, ``X-HTTP-Method-Override``, ``X-Forwarded-*``, ``Forwarded``, ...), are
  dropped by family (:mod:`agentguard.tools._egress_headers`).
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
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import h11
import structlog

from agentguard.context import ToolCaller
from agentguard.errors import AgentGuardError, ConfigError, ToolFailed
from agentguard.models import Decision
from agentguard.policy._addresses import Resolver, SystemResolver
from agentguard.sandbox_api import EGRESS_SOCKET
from agentguard.tools._egress_conn import TOOL, Connection, Refused, is_address, next_event, respond

__all__ = ["EgressGuard", "EgressOwner", "EgressProxy", "net_connect"]

log = structlog.get_logger("agentguard.egress")

_HEAD_LIMIT = 65536
_PREFIX = "agentguard-egress-"


def _sweep(directory: Path) -> None:
    """Remove socket directories left by proxies whose process died (killed before it could close)."""
    for path in directory.glob(f"{_PREFIX}*-*"):
        pid = path.name[len(_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or Path(f"/proc/{pid}").exists():
            continue
        if path.is_dir() and not path.is_symlink() and path.stat().st_uid == os.getuid():
            shutil.rmtree(path, ignore_errors=True)


@runtime_checkable
class EgressGuard(ToolCaller, Protocol):
    """The guard, as the proxy uses it: guarded calls, and a dry-run decision (for internal addresses)."""

    def decide(self, tool: str, arguments: Mapping[str, Any], *, agent: str | None = None) -> Decision: ...


@dataclass(frozen=True, slots=True)
class EgressOwner:
    """Whose code runs in the container: connections are decided and audited as this agent's calls."""

    guard: EgressGuard
    agent: str | None = None
    session: str | None = None
    framework: str | None = None
    parent_call: str | None = None


def net_connect(
    host: str, port: int, scheme: str, url: str, parent_call: str | None = None, method: str | None = None
) -> Any:
    """A connection out of a ``network = "policy"`` sandbox, decided and opened by the egress proxy.

    Registered so the policy, approvals and audit know the tool; called directly it refuses.
    """
    raise ToolFailed(
        "net.connect is opened only by the sandbox egress proxy, never called directly", tool=TOOL
    )


_SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes on Linux, with its terminating NUL


class _Endpoint:
    """One container's socket. ``attach`` says whose call runs there; without one, nothing connects."""

    def __init__(self, proxy: EgressProxy, uid: int) -> None:
        self._proxy = proxy
        self._uid = uid
        self._dir = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=proxy.runtime_dir))
        self._path = self._dir / EGRESS_SOCKET
        self._owner: EgressOwner | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._active: set[threading.Thread] = set()  # connections being handled
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

    def settle(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) for the connections being handled to end, so each one's
        ``execution.finished`` is recorded before the call whose code opened it finishes. False: a
        connection is still open (a process the code left running holds it; it ends with the
        container, and its record then)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            active = list(self._active)
        for thread in active:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            return not self._active

    def _serve(self, client: socket.socket) -> None:
        try:
            self._proxy.handle(client, self)
        finally:
            with self._lock:
                self._active.discard(threading.current_thread())

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
            thread = threading.Thread(
                target=self._serve, args=(client,), name="agentguard-egress", daemon=True
            )
            with self._lock:
                self._active.add(thread)
            thread.start()


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
        base = Path(runtime_dir or tempfile.gettempdir())
        longest = base / f"{_PREFIX}{os.getpid()}-{'x' * 8}" / EGRESS_SOCKET  # mkdtemp adds 8 characters
        if len(os.fsencode(longest)) > _SUN_PATH_MAX:
            raise ConfigError(
                f"egress runtime_dir {str(base)!r} is too long for a socket path: "
                f"{len(os.fsencode(longest))} bytes with the endpoint's name, the limit is {_SUN_PATH_MAX}"
            )
        _sweep(base)
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
        if is_address(host):
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
            request = next_event(conn, client, None)
            if not isinstance(request, h11.Request):
                raise Refused(400, "expected an HTTP request")
            connection = Connection(self, client, conn, request)
            owner = endpoint.owner
            if owner is None:
                raise Refused(403, "no guarded call is running in this sandbox")
            connection.read_body()
            guard, agent = owner.guard, owner.agent
            connection.redecide = lambda arguments: guard.decide(TOOL, arguments, agent=agent)
        except Refused as exc:
            respond(client, exc.status, str(exc))
            return
        except (h11.RemoteProtocolError, ToolFailed, OSError) as exc:
            respond(client, 400, f"unreadable request: {exc}")
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
                respond(client, status, str(exc))
