"""Server content an agent reads outside ``tools/call``: ``resources/read``, ``prompts/get``, and
``completion/complete``.

Each runs the server's code on the agent's arguments and hands its output back, so each is a
guarded call like a tool call: ``mcp-resource.<server>.read`` (argument ``uri``),
``mcp-prompt.<server>.get`` (``name``, ``arguments``) and ``mcp-completion.<server>.complete``
(``ref``, ``argument``, ``context``: a completion can list what a server holds). Policy decides,
a person may be asked, the audit log records it, and the content is recorded in the connection's
guard session (taint rules see what the agent read) and redacted as ``outputs.toml`` says.
Relayed unguarded, a resource was a way round a rule confining the tool that reads the same data.
The names sit outside ``mcp.*`` (as the back channel's do): no server's tool can take them.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

from agentguard.errors import AgentGuardError, CallRejected
from agentguard.guard import Guard
from agentguard.integrations._arguments import check_size, json_schema_model, refusal_text, rejection_text
from agentguard.integrations.mcp._calls import FRAMEWORK, ToolCalls
from agentguard.integrations.mcp._upstream import Upstream, connection_lost
from agentguard.models import canonical_tool_name

__all__ = ["ContentReads", "completion_tool_name", "prompt_tool_name", "resource_tool_name"]

_RESOURCE_SCHEMA = {
    "type": "object",
    "properties": {"uri": {"type": "string"}},
    "required": ["uri"],
}
_PROMPT_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "arguments": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["name"],
}

_COMPLETION_SCHEMA = {
    "type": "object",
    "properties": {"ref": {"type": "object"}, "argument": {"type": "object"}, "context": {"type": "object"}},
    "required": ["ref", "argument"],
}


def resource_tool_name(server: str) -> str:
    """``mcp-resource.<server>.read``: the policy name of the server's ``resources/read``."""
    return canonical_tool_name(f"mcp-resource.{server}.read")


def prompt_tool_name(server: str) -> str:
    """``mcp-prompt.<server>.get``: the policy name of the server's ``prompts/get``."""
    return canonical_tool_name(f"mcp-prompt.{server}.get")


def completion_tool_name(server: str) -> str:
    """``mcp-completion.<server>.complete``: the policy name of the server's ``completion/complete``."""
    return canonical_tool_name(f"mcp-completion.{server}.complete")


class ContentReads:
    """Guards ``resources/read`` and ``prompts/get``, in the tool calls' guard session."""

    def __init__(
        self, guard: Guard, server_name: str, upstream: Upstream, calls: ToolCalls, *, agent: str | None
    ) -> None:
        self.guard = guard
        self.agent = agent
        self._upstream = upstream
        self._calls = calls
        self.resource_name = resource_tool_name(server_name)
        self.prompt_name = prompt_tool_name(server_name)
        self.completion_name = completion_tool_name(server_name)
        for name, schema, what in (
            (self.resource_name, _RESOURCE_SCHEMA, "a resource"),
            (self.prompt_name, _PROMPT_SCHEMA, "a prompt"),
            (self.completion_name, _COMPLETION_SCHEMA, "completions of an argument"),
        ):
            guard.register(
                name,
                _outside_proxy,
                description=f"MCP server {server_name!r}: the agent reads {what}",
                args_model=json_schema_model(name, schema),
            )

    async def read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        paths = self._calls.container_paths  # a sandboxed server: decided on the host's file names

        async def forward(**decided: Any) -> BaseModel:
            uri = decided["uri"] if paths is None else paths.to_container(decided["uri"])
            request = types.ReadResourceRequest(params=types.ReadResourceRequestParams(uri=uri))
            return await self._send(request, types.ReadResourceResult)

        arguments = {"uri": str(params.uri) if paths is None else paths.to_host(str(params.uri))}
        result = await self._guarded(ctx, self.resource_name, arguments, forward)
        return types.ReadResourceResult.model_validate(result, from_attributes=True)

    async def get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        async def forward(**decided: Any) -> BaseModel:
            forwarded = types.GetPromptRequestParams(name=decided["name"], arguments=decided.get("arguments"))
            return await self._send(types.GetPromptRequest(params=forwarded), types.GetPromptResult)

        arguments: dict[str, Any] = {"name": params.name}
        if params.arguments is not None:
            arguments["arguments"] = dict(params.arguments)
        result = await self._guarded(ctx, self.prompt_name, arguments, forward)
        return types.GetPromptResult.model_validate(result, from_attributes=True)

    async def complete(
        self, ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        async def forward(**decided: Any) -> BaseModel:
            forwarded = types.CompleteRequestParams.model_validate(decided)
            return await self._send(types.CompleteRequest(params=forwarded), types.CompleteResult)

        arguments = params.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"meta"})
        result = await self._guarded(ctx, self.completion_name, arguments, forward)
        return types.CompleteResult.model_validate(result, from_attributes=True)

    async def _guarded(
        self, ctx: ServerRequestContext[Any], name: str, arguments: dict[str, Any], forward: Any
    ) -> Any:
        """The decided call's result; a refusal is an ``MCPError`` (these requests have no error result)."""
        session = self._calls.session_for(ctx.session)
        self._calls.remember(ctx.session)
        try:
            check_size(name, arguments, self._calls.max_argument_bytes)
        except CallRejected as exc:
            text = refusal_text(
                self.guard, name, exc, framework=FRAMEWORK, agent=self.agent, session=session.id
            )
            raise MCPError(code=types.INVALID_REQUEST, message=text) from None
        try:
            with session.active():
                return await self.guard.acall(
                    name, arguments, agent=self.agent, framework=FRAMEWORK, invoke=forward
                )
        except AgentGuardError as exc:
            raise MCPError(code=types.INVALID_REQUEST, message=rejection_text(exc)) from None

    async def _send(self, request: Any, result_type: type[BaseModel]) -> BaseModel:
        session = await self._upstream.get()
        try:
            result: BaseModel = await session.send_request(request, result_type)
        except MCPError as exc:
            if connection_lost(exc):
                self._upstream.lost(session)
            raise
        return result


async def _outside_proxy(**_arguments: Any) -> Any:
    raise CallRejected("an MCP read was called outside the proxy")
