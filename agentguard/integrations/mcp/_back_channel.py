"""Requests the real server makes of the agent's client (sampling, elicitation, roots), guarded.

A server that asks the client's model to write text (``sampling/createMessage``), asks the user
for input (``elicitation/create``) or lists the client's folders (``roots/list``) reaches past its
own tools, so each is a guarded call like any other, named ``mcp-client.<server>.<kind>``: policy
decides, a person may be asked, the audit log records it. The names sit outside ``mcp.*`` on
purpose: a rule allowing every tool of every MCP server does not also hand servers the agent's
model. With no rule, the policy's default applies (deny, unless configured otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import mcp_types as types
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

from agentguard.errors import AgentGuardError, CallRejected
from agentguard.guard import Guard
from agentguard.integrations._arguments import (
    MAX_ARGUMENT_BYTES,
    check_size,
    json_schema_model,
    refusal_text,
    rejection_text,
)
from agentguard.models import canonical_tool_name

__all__ = ["KINDS", "BackChannel", "back_channel_tool_name"]

Kind = Literal["sampling", "elicitation", "roots"]
KINDS: tuple[Kind, ...] = ("sampling", "elicitation", "roots")

_CAPABILITY: dict[Kind, types.ClientCapabilities] = {
    "sampling": types.ClientCapabilities(sampling=types.SamplingCapability()),
    "elicitation": types.ClientCapabilities(elicitation=types.ElicitationCapability()),
    "roots": types.ClientCapabilities(roots=types.RootsCapability()),
}
_ANY_OBJECT = {"type": "object"}


def back_channel_tool_name(server: str, kind: str) -> str:
    """``mcp-client.<server>.<kind>``: the policy name of a server-to-client request."""
    return canonical_tool_name(f"mcp-client.{server}.{kind}")


class BackChannel:
    """Relays the real server's requests to the agent's client through the guard."""

    def __init__(
        self,
        guard: Guard,
        server_name: str,
        *,
        agent: str | None,
        session_id: str,
        downstream: Callable[[], ServerSession | None],
        framework: str,
        max_argument_bytes: int = MAX_ARGUMENT_BYTES,
    ) -> None:
        self.guard = guard
        self.server_name = server_name
        self.agent = agent
        self.session_id = session_id
        self.framework = framework
        self.max_argument_bytes = max_argument_bytes
        self._downstream = downstream
        self.names = {kind: back_channel_tool_name(server_name, kind) for kind in KINDS}
        relays = {
            "sampling": self._send_sampling,
            "elicitation": self._send_elicitation,
            "roots": self._send_roots,
        }
        for kind in KINDS:
            guard.register(
                self.names[kind],
                relays[kind],
                description=f"MCP server {server_name!r} asks the agent's client for {kind}",
                args_model=json_schema_model(self.names[kind], _ANY_OBJECT),
            )

    # -- the ClientSession callbacks --------------------------------------------------------------
    async def sampling(
        self, context: Any, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
        return await self._guarded("sampling", params)  # type: ignore[no-any-return]

    async def elicitation(
        self, context: Any, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        return await self._guarded("elicitation", params)  # type: ignore[no-any-return]

    async def roots(self, context: Any) -> types.ListRootsResult | types.ErrorData:
        return await self._guarded("roots", None)  # type: ignore[no-any-return]

    # -- internals --------------------------------------------------------------------------------
    async def _guarded(self, kind: Kind, params: BaseModel | None) -> Any:
        name = self.names[kind]
        arguments = (
            params.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"meta"})
            if params is not None
            else {}
        )
        error = self._refusal(kind, name, arguments)
        if error is not None:
            return _error(
                refusal_text(
                    self.guard,
                    name,
                    error,
                    framework=self.framework,
                    agent=self.agent,
                    session=self.session_id,
                )
            )
        try:
            return await self.guard.acall(
                name, arguments, agent=self.agent, session=self.session_id, framework=self.framework
            )
        except AgentGuardError as exc:
            return _error(rejection_text(exc))

    def _refusal(self, kind: Kind, name: str, arguments: dict[str, Any]) -> CallRejected | None:
        """Why the request cannot even be decided: too large, or a client that cannot answer it."""
        try:
            check_size(name, arguments, self.max_argument_bytes)
        except CallRejected as exc:
            return exc
        session = self._downstream()
        if session is None or not session.check_client_capability(_CAPABILITY[kind]):
            return CallRejected(f"the agent's MCP client does not offer {kind}", tool=name)
        return None

    def _session(self) -> ServerSession:
        session = self._downstream()
        if session is None:
            raise CallRejected("the agent's MCP client is not connected")
        return session

    # The relays get the arguments exactly as decided and audited, and rebuild the request from them.
    async def _send_sampling(self, **arguments: Any) -> BaseModel:
        params = types.CreateMessageRequestParams.model_validate(arguments)
        result_type: type[BaseModel] = (
            types.CreateMessageResultWithTools
            if params.tools or params.tool_choice
            else types.CreateMessageResult
        )
        return await _send(self._session(), types.CreateMessageRequest(params=params), result_type)

    async def _send_elicitation(self, **arguments: Any) -> BaseModel:
        request = types.ElicitRequest.model_validate({"method": "elicitation/create", "params": arguments})
        return await _send(self._session(), request, types.ElicitResult)

    async def _send_roots(self, **_arguments: Any) -> BaseModel:
        return await _send(self._session(), types.ListRootsRequest(), types.ListRootsResult)


async def _send(session: ServerSession, request: Any, result_type: type[BaseModel]) -> BaseModel:
    try:
        return await session.send_request(request, result_type)
    except MCPError as exc:
        raise CallRejected(f"the agent's MCP client refused: {exc.message}", mcp_code=exc.code) from exc


def _error(text: str) -> types.ErrorData:
    return types.ErrorData(code=types.INVALID_REQUEST, message=text)
