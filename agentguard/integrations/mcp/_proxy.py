"""A stdio MCP server that fronts a real one and sends every ``tools/call`` through the guard.

The proxy starts the real server as a subprocess (the SDK's stdio client, ``_upstream``) and serves
the agent with the SDK's low-level ``Server``. ``tools/call`` goes through ``Guard.acall`` (policy,
approval, audit; ``_calls``) and ``tools/list`` hides the tools no call of which could run (an
unconditional deny, or no allow or ask rule for the tool; ``_catalogue``); the server's own requests
of the client (sampling, elicitation, roots) are guarded too (``_back_channel``), and so are
``resources/read``, ``prompts/get`` and ``completion/complete`` (``_reads``). Lists, subscriptions,
server notifications, progress and cancellation are relayed unchanged.
On stdio pipes a plain ``tools/call`` skips the SDK's request machinery on both sides (``_fast``) and
runs the same ``ToolCalls.guarded_call``. This module wires those parts together and serves.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

import anyio
import anyio.abc
import mcp_types as types
from mcp.client.stdio import StdioServerParameters
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

from agentguard.guard import Guard
from agentguard.integrations._arguments import MAX_ARGUMENT_BYTES
from agentguard.integrations.mcp._back_channel import BackChannel
from agentguard.integrations.mcp._calls import FRAMEWORK, USER_REQUEST_META, ToolCalls
from agentguard.integrations.mcp._catalogue import Catalogue, is_unconditional_deny
from agentguard.integrations.mcp._fast import ClientLane
from agentguard.integrations.mcp._naming import policy_tool_name, server_name_from_command
from agentguard.integrations.mcp._paths import ContainerPaths
from agentguard.integrations.mcp._reads import ContentReads
from agentguard.integrations.mcp._stdio import fast_stdio_server
from agentguard.integrations.mcp._upstream import Upstream, UpstreamUnavailable, connection_lost

__all__ = ["FRAMEWORK", "USER_REQUEST_META", "McpProxy", "UpstreamUnavailable", "is_unconditional_deny"]

_log = logging.getLogger("agentguard.mcp_proxy")


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
        container_paths: ContainerPaths | None = None,
    ) -> None:
        """``container_paths``: the server runs in a container that sees the host workspace under
        another name (``mcp-proxy --sandbox``); calls are decided on the host's names."""
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
        self.session_id = f"mcp-{uuid.uuid4().hex[:12]}"
        self._downstream: ServerSession | None = None
        self.back_channel = BackChannel(
            guard,
            self.server_name,
            agent=agent,
            session_id=self.session_id,
            downstream=lambda: self._downstream,
            session_for=lambda downstream: self._calls.session_for(downstream),
            framework=FRAMEWORK,
            max_argument_bytes=max_argument_bytes,
        )
        self._upstream = Upstream(
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
        self._catalogue = Catalogue(
            guard, self.server_name, self._upstream, agent=agent, show_hidden=show_hidden
        )
        self._calls = ToolCalls(
            guard,
            self.server_name,
            self._catalogue,
            self._upstream,
            agent=agent,
            command=self.command,
            session_id=self.session_id,
            max_argument_bytes=max_argument_bytes,
            user_request_meta=user_request_meta,
            on_downstream=self._remember,
            container_paths=container_paths,
        )
        self._reads = ContentReads(guard, self.server_name, self._upstream, self._calls, agent=agent)
        self._fast = ClientLane(self._calls.guarded_call, self._catalogue.guardable)

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
        self._calls.end_session()
        await self._upstream.close()

    def _remember(self, downstream: ServerSession) -> None:
        """The agent session the server's notifications and requests go to: the latest one heard from."""
        self._downstream = downstream

    def build_server(self, init: types.InitializeResult) -> Server[Any]:
        """The SDK server, with a handler for each capability the real server declared."""
        caps = init.capabilities
        server = _ProxyServer(
            init.server_info.name if init.server_info else self.server_name,
            version=(init.server_info.version if init.server_info else "") or "",
            instructions=init.instructions,
            on_list_tools=self._list_tools,
            on_call_tool=self._calls.call_tool,
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
            server.add_request_handler(
                "resources/read", types.ReadResourceRequestParams, self._reads.read_resource
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
            server.add_request_handler("prompts/get", types.GetPromptRequestParams, self._reads.get_prompt)
        if caps.completions is not None:
            server.add_request_handler(
                "completion/complete", types.CompleteRequestParams, self._reads.complete
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
                if connection_lost(exc):
                    self._upstream.lost(session)
                raise
            return result

        server.add_request_handler(method, params_type, handler)

    async def _relay_notification(self, message: Any) -> None:
        """Pass the real server's notifications (list changes, resource updates, logs) to the agent."""
        if isinstance(message, types.ToolListChangedNotification):
            self._catalogue.forget()
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

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        self._downstream = ctx.session
        return await self._catalogue.listing()

    async def _screen(self, ctx: ServerRequestContext[Any], call_next: Any) -> Any:
        """The SDK's middleware: the fast path answers on this connection; a malformed call is refused."""
        self._fast.client = ctx.session  # the fast path answers on this agent connection
        return await self._calls.screen(ctx, call_next)
