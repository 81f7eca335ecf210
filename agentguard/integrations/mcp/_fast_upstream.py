"""The fast path's side of the server's pipe: raw ``tools/call`` requests under ids of the proxy's own,
their responses matched before the SDK reads the line, and the result checked as the SDK's client
checks one (``_fast`` is the agent's side)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from math import isfinite
from typing import Any

import anyio
import mcp_types as types
from mcp.client.extension import UnexpectedClaimedResult
from mcp.client.session import ClientSession, _clamp_inbound_ttl, _later_revision_fields
from mcp.shared.exceptions import MCPError
from mcp_types import methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError
from pydantic_core import to_json

from agentguard.integrations._compiled_schema import compiled
from agentguard.session._record import plain_mapping

__all__ = [
    "CANCEL_WRITE_TIMEOUT_S",
    "METHOD",
    "Result",
    "UpstreamLane",
    "WireResult",
    "checked_call_result",
    "dump_line",
    "object_line",
    "parse_line",
    "text_result",
]

_ID_MARK = "agentguard-fast-"
CANCEL_WRITE_TIMEOUT_S = 1.0
METHOD = "tools/call"

Result = types.CallToolResult | types.InputRequiredResult


def _no_constants(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")  # NaN/Infinity: the SDK's parser refuses them too


_DECODER = json.JSONDecoder(parse_constant=_no_constants)  # one decoder, not one per line


def parse_line(line: str) -> Any:
    """The parsed line; ``ValueError`` for anything the fast path cannot parse (the SDK then reads it)."""
    try:
        return _DECODER.decode(line)
    except RecursionError:  # nested past the decoder's recursion: the SDK's parser refuses it cleanly
        raise ValueError("JSON nested too deeply") from None


def object_line(line: str) -> dict[str, Any] | None:
    """The line as a JSON object, or None (anything else is left to the SDK)."""
    try:
        message = parse_line(line)
    except ValueError:
        return None
    return message if type(message) is dict else None


def dump_line(message: dict[str, Any]) -> str:
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
        """Whether ``line`` is the response to a pending raw request (then it is taken here).

        The id is read as JSON reads it, as the SDK's client would match it: a line that holds an
        escape may name the id in escapes (``"\\u0061gentguard-fast-1"`` is the same string). A line
        without ``"jsonrpc": "2.0"`` is no response to the SDK (it drops the line as invalid): it
        is left to the SDK, and the call waits on as the SDK's would."""
        if not self._pending or (_ID_MARK not in line and "\\" not in line):
            return False
        message = object_line(line)
        if message is None or "method" in message or not ("result" in message or "error" in message):
            return False
        if message.get("jsonrpc") != "2.0":
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
        line = dump_line({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
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
        line = dump_line(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": request_id, "reason": "caller cancelled"},
            }
        )
        with (
            anyio.CancelScope(shield=True),
            anyio.move_on_after(CANCEL_WRITE_TIMEOUT_S),
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


plain_mapping(WireResult)  # JSON data: the session reads it as it is

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
            wire = text_result(version, raw) or methods.serialize_server_result(METHOD, version, raw)
        except KeyError:  # a version without a surface: the typed way below
            pass
        else:
            wire.setdefault("isError", False)  # the typed result's default, which its dump keeps
            if not wire["isError"] and not _structured_valid(session, name, wire):
                await session.validate_tool_result(name, _structured(wire))  # its verdict and text
            return WireResult(wire)
    with contextlib.suppress(KeyError):
        methods.validate_server_result(METHOD, version, raw)
    if not (foreign := _later_revision_fields(METHOD, version)).isdisjoint(raw):
        raw = {key: value for key, value in raw.items() if key not in foreign}
    result = session._call_tool_adapter.validate_python(raw, by_name=False)
    if isinstance(result, types.CallToolResult) and not result.is_error:
        await session.validate_tool_result(name, result)
    if not isinstance(result, types.CallToolResult | types.InputRequiredResult):
        raise UnexpectedClaimedResult(result)
    return result


_TEXT_VERSIONS = frozenset(HANDSHAKE_PROTOCOL_VERSIONS)
_TEXT_ITEM_KEYS = frozenset({"type", "text"})


def text_result(version: str, raw: dict[str, Any]) -> dict[str, Any] | None:
    """``serialize_server_result``'s answer for the commonest result, text items only, with or
    without structured content (a quarter of what the proxy spent on a result's way back); None for
    anything else, which the SDK checks. What it gives is the SDK's dump, equal to the key order
    (``tests/integrations/test_mcp_text_results.py``): exact types only, so nothing is coerced."""
    if version not in _TEXT_VERSIONS or not raw.keys() <= _PLAIN_RESULT_KEYS or "_meta" in raw:
        return None
    content = raw.get("content")
    if type(content) is not list:
        return None
    items = []
    for item in content:
        if type(item) is not dict or item.keys() != _TEXT_ITEM_KEYS or item["type"] != "text":
            return None
        text = item["text"]
        if type(text) is not str:
            return None
        items.append({"text": text, "type": "text"})
    wire: dict[str, Any] = {"content": items}
    if "isError" in raw:
        if type(raw["isError"]) is not bool:
            return None
        wire["isError"] = raw["isError"]
    if "structuredContent" in raw:
        structured = raw["structuredContent"]
        if type(structured) is not dict or not _finite(structured):
            return None
        wire["structuredContent"] = structured  # JSON the parser made: read as ``dict[str, Any]``
    return wire


def _finite(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` (parsed JSON) holds no infinite number (``1e400`` parses as one; the SDK's
    dump writes it as null) and nests less than 32 deep."""
    if depth >= 32:
        return False
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if kind is float:
            if not isfinite(item):
                return False
        elif (kind is dict or kind is list) and not _finite(item, depth + 1):
            return False
    return True


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
