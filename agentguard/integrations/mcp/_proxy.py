"""A stdio MCP server that fronts a real one and sends every ``tools/call`` through the guard.

The proxy starts the real server as a subprocess (the SDK's stdio client) and serves the agent
with the SDK's low-level ``Server``. ``tools/call`` goes through ``Guard.acall`` (policy, approval,
audit) and ``tools/list`` hides the tools no call of which could run (an unconditional deny, or no
allow or ask rule for the tool); the server's own requests of the client (sampling, elicitation,
roots) are guarded too (``_back_channel``). Resources, prompts, completions, subscriptions, server
notifications, progress and cancellation are relayed unchanged. On stdio pipes a plain ``tools/call``
skips the SDK's request machinery on both sides (``_fast``) and runs the same ``_guarded_call``.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import anyio
import anyio.abc
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

from agentguard.errors import AgentGuardError, CallRejected, InvalidArguments
from agentguard.guard import Guard
from agentguard.integrations._arguments import (
    MAX_ARGUMENT_BYTES,
    check_size,
    json_schema_model,
    refusal_text,
    rejection_text,
)
from agentguard.integrations.mcp._back_channel import BackChannel
from agentguard.integrations.mcp._fast import ClientLane, Result, UpstreamLane, checked_call_result
from agentguard.integrations.mcp._naming import policy_tool_name, server_name_from_command
from agentguard.integrations.mcp._stdio import fast_stdio_server
from agentguard.integrations.mcp._upstream_stdio import tapped_stdio_client
from agentguard.models import Decision, Effect
from agentguard.pipeline import ListablePolicy
from agentguard.session import Session

__all__ = ["FRAMEWORK", "McpProxy", "UpstreamUnavailable", "is_unconditional_deny"]

FRAMEWORK = "mcp"
_log = logging.getLogger("agentguard.mcp_proxy")


class UpstreamUnavailable(AgentGuardError):
    """The real MCP server could not be started, or stopped answering."""

    code = "mcp.upstream_unavailable"


def is_unconditional_deny(decision: Decision) -> bool:
    """Whether ``decision`` denies every call of the tool, whatever its arguments.

    True when the deciding rule is a deny whose condition is ``*``: deny outranks ask and allow,
    so no argument can change the outcome. A deny because no rule matched is not unconditional
    (a conditional allow may match other arguments), so such tools stay listed.
    """
    if decision.effect is not Effect.DENY or decision.rule is None:
        return False
    fields = [part.strip() for part in decision.rule.text.split(",")]
    return len(fields) >= 5 and fields[3] in ("*", "")


@dataclass
class _Tool:
    upstream: types.Tool
    policy_name: str | None
    problem: str | None = None


@dataclass
class _Upstream:
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


class _ProxyServer(Server[Any]):
    """The SDK server offering the agent the list-changed notifications the real server offers,
    whichever transport asks for its initialization options (stdio here, HTTP through the SDK)."""

    notifications: NotificationOptions | None = None

    def create_initialization_options(
        self, notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return super().create_initialization_options(
            notification_options or self.notifications, *args, **kwargs
        )


USER_REQUEST_META = "agentguard/user_request"
"""The tools/call ``_meta`` key a trusted client uses to pass the user's own text (``user_request_meta``)."""


class McpProxy:
    """Front a real MCP server so that every tool call it serves is guarded.

    ``command`` starts the real server. Its tools are named ``mcp.<server_name>.<tool>`` in policy
    (``server_name`` defaults to one derived from the command: ``mcp-server-time`` gives ``time``);
    the agent still sees the server's own tool names and argument names.
    """

    def __init__(
        self,
        guard: Guard,
        command: Sequence[str],
        *,
        server_name: str | None = None,
        agent: str | None = None,
        show_hidden: bool = False,
        max_argument_bytes: int = MAX_ARGUMENT_BYTES,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        errlog: TextIO | None = None,
        user_request_meta: bool = False,
    ) -> None:
        if not command:
            raise ValueError("the MCP server command is empty")
        self.guard = guard
        self.command = list(command)
        self.server_name = server_name or server_name_from_command(self.command)
        policy_tool_name(self.server_name, "x")  # fail early on a name policy cannot hold
        self.agent = agent
        self.show_hidden = show_hidden
        self.max_argument_bytes = max_argument_bytes
        # Off by default: only a client (the host application, not the model) that puts the user's own
        # text in tools/call ``_meta["agentguard/user_request"]`` may be trusted with this.
        self.user_request_meta = user_request_meta
        self._last_said: tuple[str, str] | None = None  # (session id, text): repeated turns added once
        self.session_id = f"mcp-{uuid.uuid4().hex[:12]}"
        # One guard session per agent connection (docs/provenance.md): opened at its first tools/call.
        self._session: Session | None = None
        self._session_owner: object = None  # the SDK's Connection the session belongs to
        self._sessions_opened = 0
        self._tools: dict[str, _Tool] = {}
        self._registered: set[str] = set()
        self._downstream: ServerSession | None = None
        self._fast = ClientLane(self._guarded_call, self._fast_path_knows)
        self.back_channel = BackChannel(
            guard,
            self.server_name,
            agent=agent,
            session_id=self.session_id,
            downstream=lambda: self._downstream,
            framework=FRAMEWORK,
            max_argument_bytes=max_argument_bytes,
        )
        self._upstream = _Upstream(
            params=StdioServerParameters(
                command=self.command[0],
                args=self.command[1:],
                env=dict(os.environ if env is None else env),
                cwd=cwd,
            ),
            errlog=errlog or sys.stderr,
            on_notification=self._relay_notification,
            back_channel=self.back_channel,
        )

    # -- running ----------------------------------------------------------------------------------
    async def serve_stdio(self) -> None:
        """Serve the agent on this process's stdin/stdout until it disconnects."""
        async with fast_stdio_server(self._fast) as (read, write):
            await self.run(read, write)

    async def serve_http(
        self, host: str = "127.0.0.1", port: int = 8765, *, ready: Callable[[str], None] | None = None
    ) -> None:
        """Serve one agent at a time over streamable HTTP on loopback (``http://host:port/mcp``)."""
        from agentguard.integrations.mcp._http import serve_http

        await serve_http(self, host, port, ready=ready)

    async def run(self, read: Any, write: Any) -> None:
        """Serve one agent connection over an SDK stream pair; ``UpstreamUnavailable`` if it cannot start."""
        failure: UpstreamUnavailable | None = None
        async with anyio.create_task_group() as tg:
            try:
                init = await self.start_upstream(tg)
            except UpstreamUnavailable as exc:
                failure = exc
            else:
                server = self.build_server(init)
                self._fast.start(tg, cache_hinted=bool(server.cache_hints))
                try:
                    await server.run(read, write, server.create_initialization_options())
                finally:
                    self._fast.stop()
                    await self.stop_upstream()
            tg.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def start_upstream(self, tg: anyio.abc.TaskGroup) -> types.InitializeResult:
        """Start the real server (owned by ``tg``); ``UpstreamUnavailable`` if it cannot start."""
        return await self._upstream.start(tg)

    async def stop_upstream(self) -> None:
        self._end_session()
        await self._upstream.close()

    def _session_for(self, downstream: ServerSession) -> Session:
        """The guard session of this agent connection; a new connection ends the previous one.

        The SDK builds a ``ServerSession`` per request; the ``Connection`` behind it is the one
        object that lives as long as the agent's connection (stdio, or one streamable-HTTP session).
        """
        connection = downstream._connection
        if self._session is not None and self._session_owner is connection:
            return self._session
        self._end_session()
        self._sessions_opened += 1
        suffix = "" if self._sessions_opened == 1 else f"-{self._sessions_opened}"
        self._session = self.guard.open_session(
            session_id=self.session_id + suffix, agent=self.agent, framework=FRAMEWORK
        )
        self._session_owner = connection
        return self._session

    def _end_session(self) -> None:
        session, self._session, self._session_owner = self._session, None, None
        if session is not None:
            self.guard.close_session(session, agent=self.agent, framework=FRAMEWORK)

    def build_server(self, init: types.InitializeResult) -> Server[Any]:
        """The SDK server, with a handler for each capability the real server declared."""
        caps = init.capabilities
        server = _ProxyServer(
            init.server_info.name if init.server_info else self.server_name,
            version=(init.server_info.version if init.server_info else "") or "",
            instructions=init.instructions,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        server.notifications = NotificationOptions(
            tools_changed=bool(caps.tools and caps.tools.list_changed),
            resources_changed=bool(caps.resources and caps.resources.list_changed),
            prompts_changed=bool(caps.prompts and caps.prompts.list_changed),
        )
        server.middleware.append(self._screen)
        if caps.resources is not None:
            self._relay(
                server,
                "resources/list",
                types.PaginatedRequestParams,
                types.ListResourcesRequest,
                types.ListResourcesResult,
            )
            self._relay(
                server,
                "resources/templates/list",
                types.PaginatedRequestParams,
                types.ListResourceTemplatesRequest,
                types.ListResourceTemplatesResult,
            )
            self._relay(
                server,
                "resources/read",
                types.ReadResourceRequestParams,
                types.ReadResourceRequest,
                types.ReadResourceResult,
            )
            if caps.resources.subscribe:
                self._relay(
                    server,
                    "resources/subscribe",
                    types.SubscribeRequestParams,
                    types.SubscribeRequest,
                    types.EmptyResult,
                )
                self._relay(
                    server,
                    "resources/unsubscribe",
                    types.UnsubscribeRequestParams,
                    types.UnsubscribeRequest,
                    types.EmptyResult,
                )
        if caps.prompts is not None:
            self._relay(
                server,
                "prompts/list",
                types.PaginatedRequestParams,
                types.ListPromptsRequest,
                types.ListPromptsResult,
            )
            self._relay(
                server,
                "prompts/get",
                types.GetPromptRequestParams,
                types.GetPromptRequest,
                types.GetPromptResult,
            )
        if caps.completions is not None:
            self._relay(
                server,
                "completion/complete",
                types.CompleteRequestParams,
                types.CompleteRequest,
                types.CompleteResult,
            )
        return server

    def _relay(
        self,
        server: Server[Any],
        method: str,
        params_type: type[BaseModel],
        request_type: Any,
        result_type: type[BaseModel],
    ) -> None:
        async def handler(ctx: ServerRequestContext[Any], params: Any) -> BaseModel:
            self._downstream = ctx.session
            session = await self._upstream.get()
            forwarded = params.model_copy(update={"meta": None}) if params is not None else None
            try:
                result: BaseModel = await session.send_request(request_type(params=forwarded), result_type)
            except MCPError as exc:
                if exc.code == types.CONNECTION_CLOSED:
                    self._upstream.lost(session)
                raise
            return result

        server.add_request_handler(method, params_type, handler)

    async def _relay_notification(self, message: Any) -> None:
        """Pass the real server's notifications (list changes, resource updates, logs) to the agent."""
        if isinstance(message, types.ToolListChangedNotification):
            self._tools.clear()
        if isinstance(message, Exception) or self._downstream is None:
            return
        if isinstance(
            message,
            types.ToolListChangedNotification
            | types.ResourceListChangedNotification
            | types.PromptListChangedNotification
            | types.ResourceUpdatedNotification
            | types.LoggingMessageNotification,
        ):
            try:
                await self._downstream.send_notification(message)
            except Exception as exc:  # noqa: BLE001 - the agent side went away; nothing to tell
                _log.debug("could not relay %s: %s", type(message).__name__, exc)

    # -- tools ------------------------------------------------------------------------------------
    async def _refresh_tools(self) -> dict[str, _Tool]:
        session = await self._upstream.get()
        listed: list[types.Tool] = []
        cursor: str | None = None
        try:
            while True:
                page = await session.list_tools(
                    params=types.PaginatedRequestParams(cursor=cursor) if cursor else None
                )
                listed.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED:
                self._upstream.lost(session)
            raise
        tools: dict[str, _Tool] = {}
        seen: dict[str, str] = {}
        for tool in listed:
            entry = self._entry(tool, seen)
            tools[tool.name] = entry
            if entry.policy_name is not None:
                self._register(entry.policy_name)
        self._tools = tools
        return tools

    def _entry(self, tool: types.Tool, seen: dict[str, str]) -> _Tool:
        try:
            name = policy_tool_name(self.server_name, tool.name)
        except ValueError as exc:
            return _Tool(tool, None, f"its name cannot be named in policy ({exc})")
        if name in seen:
            return _Tool(tool, None, f"its policy name {name} is also the name of tool {seen[name]!r}")
        seen[name] = tool.name
        return _Tool(tool, name)

    def _register(self, policy_name: str) -> None:
        if policy_name in self._registered:
            return

        def schema() -> Mapping[str, Any] | None:
            for entry in self._tools.values():
                if entry.policy_name == policy_name:
                    return entry.upstream.input_schema
            return None

        async def outside_proxy(**_arguments: Any) -> Any:
            raise UpstreamUnavailable("an MCP tool was called outside the proxy")

        self.guard.register(
            policy_name,
            outside_proxy,
            description=f"MCP tool of server {self.server_name!r}",
            args_model=json_schema_model(policy_name, schema),
        )
        self._registered.add(policy_name)

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
            if exc.code == types.CONNECTION_CLOSED:
                raise self._lost(session, exc) from exc
            raise

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        self._downstream = ctx.session
        tools = await self._refresh_tools()
        visible: list[types.Tool] = []
        for entry in tools.values():
            hidden_because = entry.problem
            if hidden_because is None and entry.policy_name is not None:
                hidden_because = self._refused_outright(entry.policy_name)
            if hidden_because is None:
                visible.append(entry.upstream)
            elif self.show_hidden:
                note = f"[agentguard: every call is refused: {hidden_because}]"
                description = f"{note} {entry.upstream.description or ''}".strip()
                visible.append(entry.upstream.model_copy(update={"description": description}))
        return types.ListToolsResult(tools=visible)

    def _refused_outright(self, policy_name: str) -> str | None:
        """Why every call of the tool is refused (so it is not listed), or None if some call may run:
        an unconditional deny rule, or no allow or ask rule whose tool pattern matches it for this agent."""
        decision = self.guard.decide(policy_name, {}, agent=self.agent)
        if is_unconditional_deny(decision):
            return f"denied by policy rule {decision.rule_id}: {decision.reason}"
        policy = self.guard.policy
        if isinstance(policy, ListablePolicy) and not policy.may_allow(
            self.agent or self.guard.agent, policy_name
        ):
            return f"no allow or ask rule names {policy_name}"
        return None

    async def _screen(self, ctx: ServerRequestContext[Any], call_next: Any) -> Any:
        """Answer a ``tools/call`` whose params the SDK would reject with an audited tool error."""
        self._fast.client = ctx.session  # the fast path answers on this agent connection
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
        return self._refuse(tool, error, argument_type=type(arguments).__name__)

    async def _call_tool(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> Result:
        async def forward(upstream_name: str, decided: dict[str, Any]) -> Any:
            return await self._forward(ctx, upstream_name, decided)

        arguments: Any = params.arguments if params.arguments is not None else {}
        return await self._guarded_call(params.name, arguments, ctx.session, params.meta, forward)

    def _fast_path_knows(self, name: str) -> bool:
        """Whether a call of ``name`` may take the fast path: a listed tool that can be guarded."""
        entry = self._tools.get(name)
        return entry is not None and entry.policy_name is not None

    async def _forward_raw(self, upstream_name: str, arguments: dict[str, Any]) -> Any:
        """``_forward`` on the raw lane: the decided ``arguments`` as a JSON-RPC request of the proxy's."""
        session = await self._upstream.get()
        lane = self._upstream.lane
        try:
            if lane is None:
                raise MCPError(code=types.CONNECTION_CLOSED, message="Connection closed")
            raw = await lane.request("tools/call", {"name": upstream_name, "arguments": arguments})
            return await checked_call_result(session, upstream_name, raw)
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED:
                raise self._lost(session, exc) from exc
            raise

    def _lost(self, session: ClientSession, exc: MCPError) -> UpstreamUnavailable:
        """The server went away during a forward: forget the session (it restarts on the next call)."""
        self._upstream.lost(session)
        return UpstreamUnavailable(
            f"the MCP server stopped during the call: {exc.message}", command=self.command
        )

    async def _guarded_call(
        self,
        name: str,
        arguments: Any,
        downstream: ServerSession,
        meta: Mapping[str, Any] | None = None,
        forward_to: Callable[[str, dict[str, Any]], Any] | None = None,
    ) -> Result:
        """One ``tools/call`` through the guard, from the SDK's handler or the fast path (``_fast``)."""
        self._downstream = downstream
        forward_to = forward_to or self._forward_raw
        try:
            policy_name = policy_tool_name(self.server_name, name)
        except ValueError:
            policy_name = f"mcp.{self.server_name}.{name}"
        try:
            size = check_size(policy_name, arguments, self.max_argument_bytes)
        except CallRejected as exc:
            return self._refuse(policy_name, exc, argument_bytes=exc.data.get("size"))
        entry = self._tools.get(name)
        if entry is None:
            try:
                entry = (await self._refresh_tools()).get(name)
            except (MCPError, AgentGuardError) as exc:
                error = exc if isinstance(exc, AgentGuardError) else UpstreamUnavailable(str(exc))
                return self._refuse(policy_name, error, argument_bytes=size)
        if entry is not None and entry.policy_name is None:
            return self._refuse(
                policy_name,
                CallRejected(f"{name} cannot be guarded: {entry.problem}", tool=name),
                argument_bytes=size,
            )

        async def forward(**decided: Any) -> Any:
            return await forward_to(name, decided)

        session = self._session_for(downstream)
        if self.user_request_meta:
            said = (meta or {}).get(USER_REQUEST_META)
            if isinstance(said, str) and said and (session.id, said) != self._last_said:
                self._last_said = (session.id, said)
                self.guard.add_user_request(session, said, agent=self.agent, framework=FRAMEWORK)
        try:
            with session.active():
                result: Result = await self.guard.acall(
                    policy_name, arguments, agent=self.agent, framework=FRAMEWORK, invoke=forward
                )
        except AgentGuardError as exc:
            return _error_result(rejection_text(exc))
        return result

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


def _describe(exc: BaseException) -> str:
    """The leaf errors of an exception group, or the exception itself, as one line."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _error_result(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)
