"""The proxy over MCP's streamable-HTTP transport, for clients that connect by URL.

The proxy has no authentication of its own, so it listens on loopback only, answers one agent
session at a time (the back channel and notifications go to that one agent), and checks the
``Host`` and ``Origin`` headers so a web page cannot reach it through DNS rebinding.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from agentguard.errors import ConfigError

if TYPE_CHECKING:
    from agentguard.integrations.mcp._proxy import McpProxy

__all__ = ["check_loopback", "serve_http"]

MCP_PATH = "/mcp"


def check_loopback(host: str) -> None:
    """Refuse any address but loopback: whoever reaches the port acts as the agent."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"--http: {host!r} is not a loopback address; the proxy has no authentication, so it "
            "listens on 127.0.0.1, ::1 or localhost only (put an authenticating reverse proxy in front "
            "to serve other hosts)",
            host=host,
        )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1" if host == "localhost" else host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"--http: cannot listen on {host}:{port}: {exc.strerror or exc}", host=host
        ) from None
    sock.listen(64)
    sock.set_inheritable(False)
    return sock


class _Asgi:
    """An ASGI callable as a Starlette route endpoint (a plain function would be taken for a view)."""

    def __init__(self, handle: Callable[[Any, Any, Any], Awaitable[None]]) -> None:
        self._handle = handle

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._handle(scope, receive, send)


async def serve_http(
    proxy: McpProxy,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``proxy`` at ``http://host:port/mcp`` until cancelled; ``ready`` gets the URL once listening."""
    from mcp.server.transport_security import TransportSecuritySettings

    check_loopback(host)
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    names = ["127.0.0.1", "localhost", "[::1]"]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:{bound}" for name in names],
        allowed_origins=[f"http://{name}:{bound}" for name in names],
    )
    try:
        await _serve(proxy, sock, host, bound, security, ready)
    finally:
        sock.close()


async def _serve(
    proxy: McpProxy,
    sock: socket.socket,
    host: str,
    bound: int,
    security: Any,
    ready: Callable[[str], None] | None,
) -> None:
    import uvicorn
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.applications import Starlette
    from starlette.routing import Route

    from agentguard.integrations.mcp._proxy import UpstreamUnavailable

    failure: UpstreamUnavailable | None = None
    async with anyio.create_task_group() as tg:
        try:
            init = await proxy.start_upstream(tg)
        except UpstreamUnavailable as exc:
            failure = exc  # raised below, not wrapped in the task group's exception group
            tg.cancel_scope.cancel()
            init = None
        if init is not None:
            manager = StreamableHTTPSessionManager(
                app=proxy.build_server(init), security_settings=security, max_sessions=1
            )

            @contextlib.asynccontextmanager
            async def lifespan(_app: Any) -> AsyncIterator[None]:
                async with manager.run():
                    yield

            routes = [Route(MCP_PATH, endpoint=_Asgi(manager.handle_request))]
            app = Starlette(routes=routes, lifespan=lifespan)
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
            if ready is not None:  # the socket already listens: an early client waits in its backlog
                shown = f"[{host}]" if ":" in host else host
                ready(f"http://{shown}:{bound}{MCP_PATH}")
            serving = asyncio.ensure_future(server.serve(sockets=[sock]))  # uvicorn runs on asyncio only
            try:
                await asyncio.shield(serving)
            except BaseException:
                # Cancelled: let uvicorn shut down properly (sessions closed, lifespan ended) first.
                server.should_exit = True
                with anyio.CancelScope(shield=True):
                    await serving
                raise
            finally:
                await proxy.stop_upstream()
                tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
