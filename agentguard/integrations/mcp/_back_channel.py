"""Requests the real server makes of the agent's client (sampling, elicitation, roots), guarded.

A server that asks the client's model to write text (``sampling/createMessage``), asks the user
for input (``elicitation/create``) or lists the client's folders (``roots/list``) reaches past its
own tools, so each is a guarded call like any other, named ``mcp-client.<server>.<kind>``: policy
decides, a person may be asked, the audit log records it. The names sit outside ``mcp.*`` on
purpose: a rule allowing every tool of every MCP server does not also hand servers the agent's
model. With no rule, the policy's default applies (deny, unless configured otherwise).

Each request is decided in the guard session of the agent connection it goes to (the one the
proxy's tool calls use), and is sent to that connection even if another one arrives meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
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
from agentguard.session import Session

__all__ = ["KINDS", "BackChannel", "back_channel_tool_name"]

Kind = Literal["sampling", "elicitation", "roots"]
KINDS: tuple[Kind, ...] = ("sampling", "elicitation", "roots")

_CAPABILITY: dict[Kind, types.ClientCapabilities] = {
    "sampling": types.ClientCapabilities(sampling=types.SamplingCapability()),
    "elicitation": types.ClientCapabilities(elicitation=types.ElicitationCapability()),
    "roots": types.ClientCapabilities(roots=types.RootsCapability()),
}
_ANY_OBJECT = {"type": "object"}
# The agent connection a decided request goes to: the one it was decided for.
_TARGET: ContextVar[ServerSession | None] = ContextVar("agentguard_mcp_back_channel_target", default=None)


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
        session_for: Callable[[ServerSession], Session],
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
        self._session_for = session_for  # the guard session of an agent connection
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
        downstream = self._downstream()
        session = self._session_for(downstream) if downstream is not None else None
        error = self._refusal(kind, name, arguments, downstream)
        if error is not None or session is None:
            return _error(
                refusal_text(
                    self.guard,
                    name,
                    error or CallRejected("the agent's MCP client is not connected", tool=name),
                    framework=self.framework,
                    agent=self.agent,
                    session=session.id if session is not None else self.session_id,
                )
            )
        token = _TARGET.set(downstream)
        try:
            with session.active():
                return await self.guard.acall(name, arguments, agent=self.agent, framework=self.framework)
        except AgentGuardError as exc:
            return _error(rejection_text(exc))
        finally:
            _TARGET.reset(token)

    def _refusal(
        self, kind: Kind, name: str, arguments: dict[str, Any], session: ServerSession | None
    ) -> CallRejected | None:
        """Why the request cannot even be decided: too large, or a client that cannot answer it."""
        try:
            check_size(name, arguments, self.max_argument_bytes)
        except CallRejected as exc:
            return exc
        if session is None or not session.check_client_capability(_CAPABILITY[kind]):
            return CallRejected(f"the agent's MCP client does not offer {kind}", tool=name)
        return None

    def _session(self) -> ServerSession:
        session = _TARGET.get()  # set for the decided call; never another connection's
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
