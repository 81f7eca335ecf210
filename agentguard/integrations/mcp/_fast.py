"""The stdio fast path for ``tools/call``: the same guarded call, without the SDK's request machinery.

Through the SDK, a proxied ``tools/call`` is parsed into pydantic models and passed through memory
streams and a task on each side (the agent-facing ``Server``, the server-facing ``ClientSession``):
most of what the proxy added to a call. Here a plain ``tools/call`` for a listed tool on an
initialized stdio connection is taken off the agent's pipe before the SDK reads it, run through
exactly the handler the SDK would run (``ToolCalls.guarded_call``: size check, policy, approval,
audit, provenance, redaction), forwarded to the server as a raw JSON-RPC request under an id of
the proxy's own (a string; the SDK's client only uses integers), matched by id on the server's
pipe before the SDK sees it, checked as the SDK's client checks a result, and answered with the
agent's own id. Anything else (other methods, ``_meta``, unknown fields, batches, ids of other
types, a tool not in the current list, a 2026-era connection) stays on the SDK path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeGuard

import anyio
import anyio.abc
import mcp_types as types
from mcp.client.extension import UnexpectedClaimedResult
from mcp.client.session import ClientSession, _clamp_inbound_ttl, _later_revision_fields
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data
from mcp_types import methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json

from agentguard.integrations._compiled_schema import compiled
from agentguard.integrations.mcp._stdio import Wire

__all__ = ["Answer", "ClientLane", "UpstreamLane", "WireResult", "checked_call_result", "summary_form"]

_log = logging.getLogger("agentguard.mcp_proxy")
_ID_MARK = "agentguard-fast-"
_REQUEST_KEYS = frozenset({"jsonrpc", "id", "method", "params"})
_PARAM_KEYS = frozenset({"name", "arguments"})
_CANCEL_WRITE_TIMEOUT_S = 1.0
_METHOD = "tools/call"

Result = types.CallToolResult | types.InputRequiredResult
Answer = Result | dict[str, Any]  # a typed result, or a wire form (``WireResult``; redacted: a dict)
Deliver = Callable[[Answer], None]
GuardedCall = Callable[[str, Any, ServerSession, Mapping[str, Any] | None, Any, Deliver], Awaitable[Answer]]


def _no_constants(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")  # NaN/Infinity: the SDK's parser refuses them too


_DECODER = json.JSONDecoder(parse_constant=_no_constants)  # one decoder, not one per line


def _loads(line: str) -> Any:
    """The parsed line; ``ValueError`` for anything the fast path cannot parse (the SDK then reads it)."""
    try:
        return _DECODER.decode(line)
    except RecursionError:  # nested past the decoder's recursion: the SDK's parser refuses it cleanly
        raise ValueError("JSON nested too deeply") from None


def _object(line: str) -> dict[str, Any] | None:
    """The line as a JSON object, or None (anything else is left to the SDK)."""
    try:
        message = _loads(line)
    except ValueError:
        return None
    return message if type(message) is dict else None


def _dumps(message: dict[str, Any]) -> str:
    return to_json(message).decode() + "\n"


def _closed() -> MCPError:
    return MCPError(code=types.CONNECTION_CLOSED, message="Connection closed")


class UpstreamLane:
    """Raw requests to one connection of the real server: proxy-owned ids and their waiting calls."""

    def __init__(self) -> None:
        self.send: Callable[[str], Awaitable[None]] | None = None
        self.closed = False
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._next = 0

    def tap(self, line: str) -> bool:
        """Whether ``line`` is the response to a pending raw request (then it is taken here)."""
        if not self._pending or _ID_MARK not in line:
            return False
        message = _object(line)
        if message is None or "method" in message or not ("result" in message or "error" in message):
            return False
        key = message.get("id")
        waiter = self._pending.pop(key, None) if isinstance(key, str) else None
        if waiter is None:
            return False
        if not waiter.done():
            waiter.set_result(message)
        return True

    def close(self) -> None:
        """The server's output ended: every waiting request fails as the SDK's would."""
        self.closed = True
        pending, self._pending = self._pending, {}
        for waiter in pending.values():
            if not waiter.done():
                waiter.set_exception(_closed())

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The result of ``method``; ``MCPError`` for an error response or a lost connection."""
        if self.closed or self.send is None:
            raise _closed()
        self._next += 1
        request_id = f"{_ID_MARK}{self._next}"
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = waiter
        line = _dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        try:
            try:
                await self.send(line)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                raise _closed() from exc
            message = await waiter
        except anyio.get_cancelled_exc_class():
            await self._cancel(request_id)
            raise
        finally:
            self._pending.pop(request_id, None)
        return _outcome(message)

    async def _cancel(self, request_id: str) -> None:
        """Tell the server the call was abandoned, as the SDK's client does."""
        if self.closed or self.send is None:
            return
        line = _dumps(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": request_id, "reason": "caller cancelled"},
            }
        )
        with (
            anyio.CancelScope(shield=True),
            anyio.move_on_after(_CANCEL_WRITE_TIMEOUT_S),
            contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError),
        ):
            await self.send(line)


def _outcome(message: dict[str, Any]) -> dict[str, Any]:
    if "error" in message:
        error = message["error"]
        try:
            data = types.ErrorData.model_validate(error)
        except ValidationError:
            raise MCPError(
                code=types.INTERNAL_ERROR, message="invalid error response from the server"
            ) from None
        raise MCPError.from_error_data(data)
    result = message.get("result")
    if type(result) is not dict:
        raise MCPError(code=types.INTERNAL_ERROR, message="invalid result from the server")
    return result


class WireResult(dict[str, Any]):
    """A plain ``tools/call`` result in its wire form, checked as the SDK's client checks one, on a
    connection of the same protocol version as the agent's: it is answered as it is (no typed model
    built, dumped and checked again on the way back). Redaction hands back a plain ``dict``, which
    is checked again before it is sent (``_serialize``)."""

    __slots__ = ()


_PLAIN_RESULT_KEYS = frozenset({"content", "structuredContent", "isError", "_meta"})


async def checked_call_result(
    session: ClientSession, name: str, raw: dict[str, Any], answer_version: str | None = None
) -> Result | WireResult:
    """A raw ``tools/call`` result checked and typed as ``ClientSession.call_tool`` does it.

    With ``answer_version`` (the agent connection's) equal to the server connection's, a plain
    result (no later-revision, input-required or extension fields) is checked the same way, against
    the same surface model, and kept in its wire form (``WireResult``)."""
    _clamp_inbound_ttl(raw)
    version = session.protocol_version or "2025-11-25"
    # ``isError: null``: the surface model takes it (as false), the typed result refuses it
    if (
        version == answer_version
        and raw.keys() <= _PLAIN_RESULT_KEYS
        and raw.get("isError", False) is not None
    ):
        try:
            wire = methods.serialize_server_result(_METHOD, version, raw)
        except KeyError:  # a version without a surface: the typed way below
            pass
        else:
            wire.setdefault("isError", False)  # the typed result's default, which its dump keeps
            if not wire["isError"] and not _structured_valid(session, name, wire):
                await session.validate_tool_result(name, _structured(wire))  # its verdict and text
            return WireResult(wire)
    with contextlib.suppress(KeyError):
        methods.validate_server_result(_METHOD, version, raw)
    if not (foreign := _later_revision_fields(_METHOD, version)).isdisjoint(raw):
        raw = {key: value for key, value in raw.items() if key not in foreign}
    result = session._call_tool_adapter.validate_python(raw, by_name=False)
    if isinstance(result, types.CallToolResult) and not result.is_error:
        await session.validate_tool_result(name, result)
    if not isinstance(result, types.CallToolResult | types.InputRequiredResult):
        raise UnexpectedClaimedResult(result)
    return result


_OUTPUT_CHECKS: dict[int, tuple[object, Callable[[Any], bool] | None]] = {}


def _structured_valid(session: ClientSession, name: str, wire: dict[str, Any]) -> bool:
    """Whether the result's structured content passes the tool's output schema by the compiled check
    (a listed tool with a schema both validators read alike); False means "ask the SDK"."""
    schemas = session._tool_output_schemas
    if name not in schemas or "structuredContent" not in wire:
        return False
    schema = schemas[name]
    if schema is None:
        return True  # the tool declares no output schema: the SDK checks nothing either
    found = _OUTPUT_CHECKS.get(id(schema))
    if found is None or found[0] is not schema:  # the entry holds its schema: an id is not reused
        found = (schema, compiled(schema))
        if len(_OUTPUT_CHECKS) >= 256:
            _OUTPUT_CHECKS.clear()
        _OUTPUT_CHECKS[id(schema)] = found
    check = found[1]
    return check is not None and check(wire["structuredContent"])


def _structured(wire: dict[str, Any]) -> types.CallToolResult:
    """What ``ClientSession.validate_tool_result`` reads of a result (its structured content, and
    whether it had any), without validating the rest again."""
    if "structuredContent" not in wire:
        return types.CallToolResult.model_construct(content=[])
    return types.CallToolResult.model_construct(content=[], structured_content=wire["structuredContent"])


class ClientLane:
    """The agent's side of the fast path: which lines it takes, and their answers."""

    def __init__(self, guarded_call: GuardedCall, known: Callable[[str], bool]) -> None:
        self._guarded_call = guarded_call
        self._known = known
        self.client: ServerSession | None = None  # a session of the agent's connection, once it has one
        self._wire: Wire | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._cache_hinted = True
        self._inflight: dict[int | str, tuple[anyio.CancelScope, list[bool]]] = {}

    def attach(self, wire: Wire) -> None:
        """The pipe the SDK's own replies go through (whole lines, one at a time)."""
        self._wire = wire

    def start(self, tg: anyio.abc.TaskGroup, cache_hinted: bool) -> None:
        self._tg = tg
        self._cache_hinted = cache_hinted

    def stop(self) -> None:
        self._tg = None

    def _version(self) -> str | None:
        """The agent connection's protocol version once it is initialized and the path applies."""
        client = self.client
        if client is None or self._wire is None or self._tg is None or self._cache_hinted:
            return None
        connection = client._connection
        version = connection.protocol_version
        if not connection.initialize_accepted or version not in HANDSHAKE_PROTOCOL_VERSIONS:
            return None
        return str(version)

    def from_client(self, line: str) -> bool:
        """Whether ``line`` is taken here (a plain ``tools/call``, or the cancellation of one)."""
        if '"tools/call"' in line:
            return self._take_call(line)
        if '"notifications/cancelled"' in line and self._inflight:
            return self._take_cancel(line)
        return False

    def _take_call(self, line: str) -> bool:
        version = self._version()
        if version is None:
            return False
        message = _object(line)
        if message is None or not message.keys() <= _REQUEST_KEYS or message.get("jsonrpc") != "2.0":
            return False
        request_id, params = message.get("id"), message.get("params")
        if message.get("method") != _METHOD or not _is_id(request_id) or type(params) is not dict:
            return False
        name, arguments = params.get("name"), params.get("arguments")
        if not params.keys() <= _PARAM_KEYS or type(name) is not str:
            return False
        if not (arguments is None or type(arguments) is dict) or not self._known(name):
            return False
        if request_id in self._inflight or self._tg is None:
            return False  # a reused id while the first is running: the SDK's rules apply
        scope = anyio.CancelScope()
        by_client: list[bool] = []
        self._inflight[request_id] = (scope, by_client)
        self._tg.start_soon(self._run, request_id, name, arguments, version, scope, by_client)
        return True

    def _take_cancel(self, line: str) -> bool:
        try:
            message = _loads(line)
        except ValueError:
            return False
        if type(message) is not dict or message.get("method") != "notifications/cancelled":
            return False
        params = message.get("params")
        if type(params) is not dict:
            return False
        request_id = params.get("requestId")
        if not _is_id(request_id) or request_id not in self._inflight:
            return False
        scope, by_client = self._inflight[request_id]
        by_client.append(True)
        scope.cancel()
        return True

    async def _run(
        self,
        request_id: int | str,
        name: str,
        arguments: Any,
        version: str,
        scope: anyio.CancelScope,
        by_client: list[bool],
    ) -> None:
        answer: dict[str, Any] | None = None
        client = self.client
        assert client is not None
        delivered: list[bool] = []

        def deliver(result: Answer) -> None:
            """The answer, written before the guard records the result (``Guard.acall``'s ``deliver``)."""
            line = _dumps({"jsonrpc": "2.0", "id": request_id, "result": _serialize(result, version)})
            if by_client or self._wire is None:  # cancelled by the agent: no answer, as the SDK does
                return
            delivered.append(True)
            try:
                self._wire.write_now(line)
            except (ConnectionError, OSError, RuntimeError) as exc:
                _log.debug("dropped the answer to %r: %s", request_id, exc)

        try:
            with scope:
                result = await self._guarded_call(
                    name, arguments if arguments is not None else {}, client, None, None, deliver
                )
                if not delivered:  # a refusal, or an error the guard answers with
                    answer = {"jsonrpc": "2.0", "id": request_id, "result": _serialize(result, version)}
        except anyio.get_cancelled_exc_class():
            if not by_client and not delivered:  # shutdown: answer so the agent is not left waiting
                error = types.ErrorData(code=types.CONNECTION_CLOSED, message="Connection closed")
                with anyio.CancelScope(shield=True), anyio.move_on_after(_CANCEL_WRITE_TIMEOUT_S):
                    await self._answer(_error(request_id, error))
            raise
        except Exception as exc:  # noqa: BLE001 - the SDK's exception-to-wire rule
            if delivered:  # the agent has its answer; what failed after it is in the audit log
                _log.error("after answering %r: %r", request_id, exc)
            else:
                data = handler_exception_to_error_data(exc)
                if data is None:
                    _log.exception("handler for %r raised", _METHOD)
                    data = types.ErrorData(code=0, message=str(exc))
                answer = _error(request_id, data)
        finally:
            self._inflight.pop(request_id, None)
        if delivered:
            await self._drain()
        elif answer is not None and not by_client:
            await self._answer(answer)

    async def _answer(self, answer: dict[str, Any]) -> None:
        if self._wire is None:
            return
        try:
            await self._wire.write(_dumps(answer))
        except (ConnectionError, OSError, RuntimeError) as exc:
            _log.debug("dropped the answer to %r: %s", answer.get("id"), exc)

    async def _drain(self) -> None:
        """Wait for room on the agent's pipe after an answer written at once (flow control)."""
        if self._wire is None:
            return
        try:
            await self._wire.drain()
        except (ConnectionError, OSError, RuntimeError) as exc:
            _log.debug("the agent's pipe failed after an answer: %s", exc)


def _is_id(value: Any) -> TypeGuard[int | str]:
    """A JSON-RPC id the fast path relays: an integer or a string (not a bool, float or null)."""
    return type(value) is int or type(value) is str


def _serialize(result: Result | dict[str, Any], version: str) -> dict[str, Any]:
    """The result's wire form as the SDK's server shapes it on a handshake-era connection."""
    if type(result) is WireResult:  # checked against this version's surface, and not changed since
        return result
    # a wire form redaction changed is checked again, as a typed result's dump is
    if isinstance(result, dict):
        dumped = result
    else:
        dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    try:
        return methods.serialize_server_result(_METHOD, version, dumped)
    except ValidationError:
        _log.exception("handler for %r returned an invalid result", _METHOD)
        raise MCPError(code=types.INTERNAL_ERROR, message="Handler returned an invalid result") from None


def summary_form(version: str | None) -> Callable[[Any], Any]:
    """What the audit record of a ``tools/call`` sums up (``Guard.acall``'s ``summarize``): the result
    in its wire form for ``version`` (the agent connection's), as ``_serialize`` shapes it, its keys
    sorted, so a typed result (the SDK's way) reads as the same result kept in its wire form
    (``WireResult``) does. A result that has no wire form is summed up as it is."""

    def form(result: Any) -> Any:
        if version is None:
            return result
        try:
            if type(result) is not WireResult:
                if isinstance(result, BaseModel):
                    result = result.model_dump(by_alias=True, mode="json", exclude_none=True)
                if not isinstance(result, dict):
                    return result
                result = methods.serialize_server_result(_METHOD, version, result)
        except Exception:  # noqa: BLE001 - not a tools/call result: summed up as it is
            return result
        # keys in one order: a wire form's ``isError`` may have been added after the others
        return dict(sorted(result.items()))

    return form


def _error(request_id: int | str, error: types.ErrorData) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": error.model_dump(by_alias=True, mode="json", exclude_unset=True),
    }
