"""The proxy's one connection to the real MCP server, restarted on the next request after it dies.

A task in the serving task group owns the SDK's ``ClientSession`` (the stdio client's context must
be entered and left in one task); requests borrow it through ``get``. The raw lane beside it
(``lane``) is the fast path's way to the same pipe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, TextIO

import anyio
import anyio.abc
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from agentguard.errors import AgentGuardError
from agentguard.integrations.mcp._back_channel import BackChannel
from agentguard.integrations.mcp._fast import UpstreamLane
from agentguard.integrations.mcp._upstream_stdio import tapped_stdio_client

__all__ = ["Upstream", "UpstreamUnavailable", "connection_lost"]

_log = logging.getLogger("agentguard.mcp_proxy")


class UpstreamUnavailable(AgentGuardError):
    """The real MCP server could not be started, or stopped answering."""

    code = "mcp.upstream_unavailable"


def connection_lost(exc: MCPError) -> bool:
    """Whether ``exc`` is the SDK's own "connection closed" (the server went away: ``Upstream.lost``),
    raised alike by the SDK's client and the raw lane. Not a server's error response with the same
    code: -32000 is also the first of JSON-RPC's implementation-defined server errors, and a server
    that answers with it is still there (one that answers "Connection closed" is taken at its word)."""
    return exc.code == types.CONNECTION_CLOSED and exc.message == "Connection closed" and exc.data is None


@dataclass
class Upstream:
    """Owns the connection to the real server; reconnects on the next request after it dies."""

    params: StdioServerParameters
    errlog: TextIO
    on_notification: Any
    back_channel: BackChannel
    connect_timeout_s: float = 30.0
    session: ClientSession | None = None
    lane: UpstreamLane | None = None  # the raw lane of ``session`` (the fast path's)
    initialized: types.InitializeResult | None = None
    _stop: anyio.Event | None = None
    _lock: anyio.Lock = field(default_factory=anyio.Lock)
    _tg: anyio.abc.TaskGroup | None = None
    generation: int = 0

    async def start(self, tg: anyio.abc.TaskGroup) -> types.InitializeResult:
        self._tg = tg
        await self.get()
        assert self.initialized is not None
        return self.initialized

    async def get(self) -> ClientSession:
        if self.session is not None:  # the common case, without the lock's checkpoint
            return self.session
        async with self._lock:
            if self.session is not None:
                return self.session
            assert self._tg is not None
            ready = anyio.Event()
            box: dict[str, Any] = {}
            self._tg.start_soon(self._own, ready, box)
            await ready.wait()
            if "error" in box:
                raise box["error"]
            self.generation += 1
            session: ClientSession = box["session"]
            return session

    def lost(self, session: ClientSession | None) -> None:
        """Forget ``session`` (its server died); the next request starts a fresh one."""
        if session is not None and session is self.session:
            self.session = None
            self.lane = None
            if self._stop is not None:
                self._stop.set()

    async def close(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def _own(self, ready: anyio.Event, box: dict[str, Any]) -> None:
        stop = anyio.Event()
        command = " ".join([self.params.command, *self.params.args])
        lane = UpstreamLane()
        try:
            async with (
                tapped_stdio_client(self.params, self.errlog, lane.tap, lane.close) as (read, write, send),
                ClientSession(
                    read,
                    write,
                    message_handler=self.on_notification,
                    sampling_callback=self.back_channel.sampling,
                    elicitation_callback=self.back_channel.elicitation,
                    list_roots_callback=self.back_channel.roots,
                ) as session,
            ):
                with anyio.fail_after(self.connect_timeout_s):
                    self.initialized = await session.initialize()
                lane.send = send
                self.session = session
                self.lane = lane
                self._stop = stop
                box["session"] = session
                ready.set()
                await stop.wait()
        except Exception as exc:  # noqa: BLE001 - reported to the waiting request or logged
            if not ready.is_set():
                box["error"] = UpstreamUnavailable(
                    f"could not start the MCP server {command!r}: {_describe(exc)}", command=command
                )
            else:
                _log.warning("MCP server %r connection ended: %s", command, exc)
        finally:
            lane.close()
            if box.get("session") is not None and self.session is box["session"]:
                self.session = None
                self.lane = None
            ready.set()


def _describe(exc: BaseException) -> str:
    """The leaf errors of an exception group, or the exception itself, as one line."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
