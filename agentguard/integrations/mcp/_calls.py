"""The agent's ``tools/call``: through the guard, then to the real server, one guard session per connection.

The SDK's handler and the stdio fast path (``_fast``) both end in ``ToolCalls.guarded_call``, so a
call gets the same size check, policy, approval, audit and refusal texts whichever way it came.
Refusals are tool errors (``is_error``), not protocol errors: the agent reads them as results.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import mcp_types as types
from mcp.client.session import ClientSession
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError

from agentguard.errors import AgentGuardError, CallRejected, InvalidArguments, UnknownTool
from agentguard.guard import Guard, current_call
from agentguard.integrations._arguments import check_size, refusal_text, rejection_text
from agentguard.integrations.mcp._catalogue import Catalogue
from agentguard.integrations.mcp._fast import Answer, Result, checked_call_result, summary_form
from agentguard.integrations.mcp._naming import policy_tool_name
from agentguard.integrations.mcp._paths import ContainerPaths
from agentguard.integrations.mcp._upstream import Upstream, UpstreamUnavailable, connection_lost
from agentguard.session import Session

__all__ = ["FRAMEWORK", "USER_REQUEST_META", "ToolCalls"]

FRAMEWORK = "mcp"
"""The ``framework`` of the proxy's guarded calls, guard sessions and audit records."""

USER_REQUEST_META = "agentguard/user_request"
"""The tools/call ``_meta`` key a trusted client uses to pass the user's own text (``user_request_meta``)."""


_SCREENED: ContextVar[types.CallToolResult | None] = ContextVar("agentguard_mcp_screened", default=None)
"""The screen's refusal of the call the SDK's handler is then run for (``ToolCalls.screen``)."""


class ToolCalls:
    """Guards and forwards each ``tools/call``; owns the guard session of the current agent connection."""

    def __init__(
        self,
        guard: Guard,
        server_name: str,
        catalogue: Catalogue,
        upstream: Upstream,
        *,
        agent: str | None,
        command: Sequence[str],
        session_id: str,
        max_argument_bytes: int,
        user_request_meta: bool,
        on_downstream: Callable[[ServerSession], None],
        container_paths: ContainerPaths | None = None,
    ) -> None:
        self.guard = guard
        self.server_name = server_name
        self.agent = agent
        self.command = command
        self.session_id = session_id
        self.max_argument_bytes = max_argument_bytes
        self.user_request_meta = user_request_meta
        self._catalogue = catalogue
        self._upstream = upstream
        self._on_downstream = on_downstream  # the proxy relays notifications to the latest agent session
        self.container_paths = container_paths  # a sandboxed server: its workspace is /workspace
        self._last_said: tuple[str, str] | None = None  # (session id, text): repeated turns added once
        # One guard session per agent connection (docs/provenance.md): opened at its first tools/call.
        self._session: Session | None = None
        self._session_owner: object = None  # the SDK's Connection the session belongs to
        self._sessions_opened = 0

    # -- the guard session ------------------------------------------------------------------------
    def session_for(self, downstream: ServerSession) -> Session:
        """The guard session of this agent connection; a new connection ends the previous one.

        The SDK builds a ``ServerSession`` per request; the ``Connection`` behind it is the one
        object that lives as long as the agent's connection (stdio, or one streamable-HTTP session).
        """
        connection = downstream._connection
        if self._session is not None and self._session_owner is connection:
            return self._session
        self.end_session()
        self._sessions_opened += 1
        suffix = "" if self._sessions_opened == 1 else f"-{self._sessions_opened}"
        self._session = self.guard.open_session(
            session_id=self.session_id + suffix, agent=self.agent, framework=FRAMEWORK
        )
        self._session_owner = connection
        return self._session

    def remember(self, downstream: ServerSession) -> None:
        """The agent session the server's notifications and requests go to (a request came from it)."""
        self._on_downstream(downstream)

    def end_session(self) -> None:
        session, self._session, self._session_owner = self._session, None, None
        if session is not None:
            self.guard.close_session(session, agent=self.agent, framework=FRAMEWORK)

    # -- the SDK's side ---------------------------------------------------------------------------
    async def screen(self, ctx: ServerRequestContext[Any], call_next: Any) -> Any:
        """Answer a ``tools/call`` whose params the SDK would reject with an audited tool error."""
        if ctx.method != "tools/call" or ctx.request_id is None:
            return await call_next(ctx)
        params = ctx.params if isinstance(ctx.params, Mapping) else {}
        name = params.get("name")
        arguments = params.get("arguments")
        if isinstance(name, str) and (arguments is None or isinstance(arguments, Mapping)):
            return await call_next(ctx)
        tool = f"mcp.{self.server_name}.{name if isinstance(name, str) else '(no name)'}"
        problem = (
            "the tool name is missing or not a string"
            if not isinstance(name, str)
            else (f"arguments must be a JSON object, got {type(arguments).__name__}")
        )
        error = InvalidArguments(f"invalid arguments for {tool}: {problem}", tool=tool)
        refusal = self._refuse(tool, error, argument_type=type(arguments).__name__)
        # Answered by the SDK's handler, with params it takes: the refusal then gets the wire form
        # the SDK gives every handler's result on this connection (a middleware's own answer is
        # sent as it is given: the typed model's ``resultType`` included, on any protocol version).
        token = _SCREENED.set(refusal)
        try:
            return await call_next(dataclasses.replace(ctx, params={"name": "", "arguments": {}}))
        finally:
            _SCREENED.reset(token)

    async def call_tool(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> Result:
        """The SDK's ``tools/call`` handler: forwarded through the SDK's client, with progress relayed."""
        if (refusal := _SCREENED.get()) is not None:
            return refusal

        async def forward(upstream_name: str, decided: dict[str, Any]) -> Any:
            return await self._forward(ctx, upstream_name, decided)

        arguments: Any = params.arguments if params.arguments is not None else {}
        result = await self.guarded_call(params.name, arguments, ctx.session, params.meta, forward)
        if isinstance(result, dict):  # only the raw lane's forward gives one; this one is the SDK's
            raise MCPError(code=types.INTERNAL_ERROR, message="Handler returned an invalid result")
        return result

    # -- every call -------------------------------------------------------------------------------
    async def guarded_call(
        self,
        name: str,
        arguments: Any,
        downstream: ServerSession,
        meta: Mapping[str, Any] | None = None,
        forward_to: Callable[[str, dict[str, Any]], Any] | None = None,
        deliver: Callable[[Answer], None] | None = None,
    ) -> Answer:
        """One ``tools/call`` through the guard, from the SDK's handler or the fast path (``_fast``).

        ``deliver`` (the fast path's) answers the agent with the server's result before the guard's
        bookkeeping of it (``Guard.acall``); refusals and errors are only returned."""
        self._on_downstream(downstream)
        version = downstream._connection.protocol_version
        if forward_to is None:
            forward_to = functools.partial(self._forward_raw, answer_version=version)
        try:
            policy_name = policy_tool_name(self.server_name, name)
        except ValueError:
            policy_name = f"mcp.{self.server_name}.{name}"
        try:
            size = check_size(policy_name, arguments, self.max_argument_bytes)
        except CallRejected as exc:
            return self._refuse(policy_name, exc, argument_bytes=exc.data.get("size"))
        entry = self._catalogue.tools.get(name)
        if entry is None:
            try:
                entry = (await self._catalogue.refresh()).get(name)
            except (MCPError, AgentGuardError) as exc:
                error = exc if isinstance(exc, AgentGuardError) else UpstreamUnavailable(str(exc))
                return self._refuse(policy_name, error, argument_bytes=size)
        if entry is None:  # not listed: even a case variant of a listed tool's name (one policy name)
            error = UnknownTool(
                f"unknown tool {policy_name}: the MCP server does not list {name!r}", tool=name
            )
            return self._refuse(policy_name, error)
        if entry.policy_name is None:
            return self._refuse(
                policy_name,
                CallRejected(f"{name} cannot be guarded: {entry.problem}", tool=name),
                argument_bytes=size,
            )

        async def forward(**decided: Any) -> Any:
            if self.container_paths is not None:
                decided = self._in_container(policy_name, self.container_paths, decided)
            return await forward_to(name, decided)

        if self.container_paths is not None:  # decided on the host's names of the container's files
            arguments = self.container_paths.to_host(arguments)

        session = self.session_for(downstream)
        if self.user_request_meta:
            said = (meta or {}).get(USER_REQUEST_META)
            if isinstance(said, str) and said and (session.id, said) != self._last_said:
                self._last_said = (session.id, said)
                self.guard.add_user_request(session, said, agent=self.agent, framework=FRAMEWORK)
        try:
            with session.active():
                result: Answer = await self.guard.acall(
                    policy_name,
                    arguments,
                    agent=self.agent,
                    framework=FRAMEWORK,
                    invoke=forward,
                    deliver=deliver,
                    summarize=summary_form(version),  # the same reading and record of a result, either way
                )
        except AgentGuardError as exc:
            return _error_result(rejection_text(exc))
        return result

    @staticmethod
    def _in_container(tool: str, paths: ContainerPaths, decided: dict[str, Any]) -> dict[str, Any]:
        """The decided arguments as the sandboxed server names them. A path a ``path()`` rule decided
        must be in the workspace: anywhere else the container's file of that name is not the one
        decided (its own, or one a link inside the container points to)."""
        context = current_call()
        outside = paths.outside(decided, context.decision.path_arguments if context is not None else ())
        if outside is not None:
            name, value = outside
            raise CallRejected(
                f"{tool}: {name} is {value!r}, outside the workspace the sandboxed server sees "
                f"at {paths.container}: the file it would read there is not the one decided",
                tool=tool,
                argument=name,
            )
        forwarded: dict[str, Any] = paths.to_container(decided)
        return forwarded

    async def _forward(
        self, ctx: ServerRequestContext[Any], upstream_name: str, arguments: dict[str, Any]
    ) -> Any:
        """Call the real server's tool with the decided ``arguments``, relaying its progress to the agent."""
        downstream = ctx.session

        async def progress(progress: float, total: float | None, message: str | None) -> None:
            await downstream.report_progress(progress, total, message)

        session = await self._upstream.get()
        try:
            return await session.call_tool(
                upstream_name, arguments, progress_callback=progress, allow_input_required=True
            )
        except MCPError as exc:
            if connection_lost(exc):
                raise self._lost(session, exc) from exc
            raise

    async def _forward_raw(
        self, upstream_name: str, arguments: dict[str, Any], *, answer_version: str | None = None
    ) -> Any:
        """``_forward`` on the raw lane: the decided ``arguments`` as a JSON-RPC request of the proxy's
        (a result in its wire form when the agent's connection has the server's protocol version)."""
        session = await self._upstream.get()
        lane = self._upstream.lane
        try:
            if lane is None:
                raise MCPError(code=types.CONNECTION_CLOSED, message="Connection closed")
            raw = await lane.request("tools/call", {"name": upstream_name, "arguments": arguments})
            return await checked_call_result(session, upstream_name, raw, answer_version)
        except MCPError as exc:
            if connection_lost(exc):
                raise self._lost(session, exc) from exc
            raise

    def _lost(self, session: ClientSession, exc: MCPError) -> UpstreamUnavailable:
        """The server went away during a forward: forget the session (it restarts on the next call)."""
        self._upstream.lost(session)
        return UpstreamUnavailable(
            f"the MCP server stopped during the call: {exc.message}", command=self.command
        )

    def _refuse(self, policy_name: str, error: AgentGuardError, **received: Any) -> types.CallToolResult:
        text = refusal_text(
            self.guard,
            policy_name,
            error,
            framework=FRAMEWORK,
            agent=self.agent,
            session=self._session.id if self._session is not None else self.session_id,
            **received,
        )
        return _error_result(text)


def _error_result(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)
