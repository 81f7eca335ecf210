"""The stdio fast path for ``tools/call``: the same guarded call, without the SDK's request machinery.

Through the SDK, a proxied ``tools/call`` is parsed into pydantic models and passed through memory
streams and a task on each side (the agent-facing ``Server``, the server-facing ``ClientSession``):
most of what the proxy added to a call. Here a plain ``tools/call`` for a listed tool on an
initialized stdio connection is taken off the agent's pipe before the SDK reads it, run through
exactly the handler the SDK would run (``ToolCalls.guarded_call``: size check, policy, approval,
audit, provenance, redaction), forwarded to the server as a raw JSON-RPC request under an id of
the proxy's own (a string; the SDK's client only uses integers), matched by id on the server's
pipe before the SDK sees it (``_fast_upstream``), checked as the SDK's client checks a result, and
answered with the agent's own id. Anything else (other methods, ``_meta``, unknown fields, batches,
ids of other types, a tool not in the current list, a 2026-era connection) stays on the SDK path.

Each call runs in a plain asyncio task, not one of anyio's (whose per-task bookkeeping cost ~50 us
a call); one anyio task in the serving task group stands for them (``ClientLane._supervise``): the
group ends only after the calls in flight, and its cancellation reaches each call as the group's own
would: through the call's one cancel scope while it runs (the agent's cancellation uses the same
scope; an anyio scope costs ~8 us to enter and leave), and through a second one around what follows
the answer (waiting for room on the agent's pipe).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeGuard

import anyio
import anyio.abc
import mcp_types as types
from mcp.server.session import ServerSession
from mcp.shared.dispatcher import coerce_request_id
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data
from mcp_types import methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError

from agentguard.integrations.mcp._fast_upstream import (
    CANCEL_WRITE_TIMEOUT_S,
    METHOD,
    Result,
    UpstreamLane,
    WireResult,
    checked_call_result,
    dump_line,
    object_line,
    parse_line,
)
from agentguard.integrations.mcp._stdio import Wire

__all__ = [
    "Answer",
    "ClientLane",
    "Result",
    "UpstreamLane",
    "WireResult",
    "checked_call_result",
    "summary_form",
]

_log = logging.getLogger("agentguard.mcp_proxy")
_REQUEST_KEYS = frozenset({"jsonrpc", "id", "method", "params"})
_PARAM_KEYS = frozenset({"name", "arguments"})

Answer = Result | dict[str, Any]  # a typed result, or a wire form (``WireResult``; redacted: a dict)
Deliver = Callable[[Answer], None]
GuardedCall = Callable[[str, Any, ServerSession, Mapping[str, Any] | None, Any, Deliver], Awaitable[Answer]]


class ClientLane:
    """The agent's side of the fast path: which lines it takes, and their answers."""

    def __init__(self, guarded_call: GuardedCall, known: Callable[[str], bool]) -> None:
        self._guarded_call = guarded_call
        self._known = known
        self.client: ServerSession | None = None  # a session of the agent's connection, once it has one
        self._wire: Wire | None = None
        self._open = False  # taking calls: between ``start`` and ``stop``
        self._stopped: anyio.Event | None = None
        self._cache_hinted = True
        # the calls in flight by id as the SDK's dispatcher correlates ids ("7" and 7 are one)
        self._inflight: dict[int | str, tuple[anyio.CancelScope, list[bool]]] = {}
        # each call's task, and the scopes the task group's cancellation reaches it through (the
        # call's own, then the one around what follows its answer)
        self._running: dict[asyncio.Task[None], tuple[anyio.CancelScope, anyio.CancelScope]] = {}

    def attach(self, wire: Wire) -> None:
        """The pipe the SDK's own replies go through (whole lines, one at a time)."""
        self._wire = wire

    def start(self, tg: anyio.abc.TaskGroup, cache_hinted: bool) -> None:
        """Take calls; ``tg`` ends only after the calls taken (and only once ``stop`` is called)."""
        self._cache_hinted = cache_hinted
        self._open = True
        self._stopped = anyio.Event()
        tg.start_soon(self._supervise, self._stopped)

    def stop(self) -> None:
        """Take no more calls; the ones in flight run to their end (or the task group's cancellation)."""
        self._open = False
        if self._stopped is not None:
            self._stopped.set()

    async def _supervise(self, stopped: anyio.Event) -> None:
        """The calls' stand-in in the task group: waits for them once stopped, and passes the group's
        cancellation on to each (through its own scope: shielded answers still go out)."""
        try:
            await stopped.wait()
            while self._running:
                await asyncio.wait(tuple(self._running))
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                while self._running:
                    for scope, after in self._running.values():
                        scope.cancel()
                        after.cancel()
                    await asyncio.wait(tuple(self._running))
            raise

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        if not task.cancelled() and (exc := task.exception()) is not None:  # past ``_run``'s own handling
            _log.error("a fast tools/call task failed: %r", exc)

    def _version(self) -> str | None:
        """The agent connection's protocol version once it is initialized and the path applies."""
        client = self.client
        if client is None or self._wire is None or not self._open or self._cache_hinted:
            return None
        connection = client._connection
        version = connection.protocol_version
        if not connection.initialize_accepted or version not in HANDSHAKE_PROTOCOL_VERSIONS:
            return None
        return str(version)

    def from_client(self, line: str) -> bool:
        """Whether ``line`` is taken here (a plain ``tools/call``, or the cancellation of one).

        While calls run, a line that may be a cancellation is parsed: one that names the method
        as it is, or holds an escape (``notifications\\/cancelled`` is the same JSON string). A line
        the call gate declines may still be one (its reason may say "tools/call")."""
        if '"tools/call"' in line and self._take_call(line):
            return True
        if self._inflight and ('"notifications/cancelled"' in line or "\\" in line):
            return self._take_cancel(line)
        return False

    def _take_call(self, line: str) -> bool:
        version = self._version()
        if version is None:
            return False
        message = object_line(line)
        if message is None or not message.keys() <= _REQUEST_KEYS or message.get("jsonrpc") != "2.0":
            return False
        request_id, params = message.get("id"), message.get("params")
        if message.get("method") != METHOD or not _is_id(request_id) or type(params) is not dict:
            return False
        name, arguments = params.get("name"), params.get("arguments")
        if not params.keys() <= _PARAM_KEYS or type(name) is not str:
            return False
        if not (arguments is None or type(arguments) is dict) or not self._known(name):
            return False
        key = coerce_request_id(request_id)
        if key in self._inflight:
            return False  # a reused id while the first is running: the SDK's rules apply
        scope = anyio.CancelScope()  # the agent's cancellation, and the task group's (``_supervise``)
        by_client: list[bool] = []
        self._inflight[key] = (scope, by_client)
        after = anyio.CancelScope()  # the task group's, once the call has its answer
        task = asyncio.get_running_loop().create_task(
            self._run(request_id, name, arguments, version, scope, by_client, after)
        )
        self._running[task] = (scope, after)
        task.add_done_callback(self._done)
        return True

    def _take_cancel(self, line: str) -> bool:
        try:
            message = parse_line(line)
        except ValueError:
            return False
        if type(message) is not dict or message.get("method") != "notifications/cancelled":
            return False
        params = message.get("params")
        if type(params) is not dict:
            return False
        request_id = params.get("requestId")
        found = self._inflight.get(coerce_request_id(request_id)) if _is_id(request_id) else None
        if found is None:
            return False
        scope, by_client = found
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
        after: anyio.CancelScope,
    ) -> None:
        answer: dict[str, Any] | None = None
        client = self.client
        assert client is not None
        delivered: list[bool] = []

        def deliver(result: Answer) -> None:
            """The answer, written before the guard records the result (``Guard.acall``'s ``deliver``)."""
            line = dump_line({"jsonrpc": "2.0", "id": request_id, "result": _serialize(result, version)})
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
        except anyio.get_cancelled_exc_class():  # from outside the call's scope (the task's own)
            if not by_client and not delivered:
                await self._closed(request_id)
            raise
        except Exception as exc:  # noqa: BLE001 - the SDK's exception-to-wire rule
            if delivered:  # the agent has its answer; what failed after it is in the audit log
                _log.error("after answering %r: %r", request_id, exc)
            else:
                data = handler_exception_to_error_data(exc)
                if data is None:
                    _log.exception("handler for %r raised", METHOD)
                    data = types.ErrorData(code=0, message=str(exc))
                answer = _error(request_id, data)
        finally:
            self._inflight.pop(coerce_request_id(request_id), None)
        if scope.cancelled_caught and not by_client:  # the task group's cancellation: shutdown
            if not delivered:
                await self._closed(request_id)
            return
        with after:
            if delivered:
                await self._drain()
            elif answer is not None and not by_client:
                await self._answer(answer)

    async def _closed(self, request_id: int | str) -> None:
        """Shutdown: answer so the agent is not left waiting (shielded, for a while at most)."""
        error = types.ErrorData(code=types.CONNECTION_CLOSED, message="Connection closed")
        with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_WRITE_TIMEOUT_S):
            await self._answer(_error(request_id, error))

    async def _answer(self, answer: dict[str, Any]) -> None:
        if self._wire is None:
            return
        try:
            await self._wire.write(dump_line(answer))
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
        return methods.serialize_server_result(METHOD, version, dumped)
    except ValidationError:
        _log.exception("handler for %r returned an invalid result", METHOD)
        raise MCPError(code=types.INTERNAL_ERROR, message="Handler returned an invalid result") from None


def summary_form(version: str | None) -> Callable[[Any], Any]:
    """What the guard session reads of a ``tools/call`` result and its audit record sums up
    (``Guard.acall``'s ``summarize``): the result in its wire form for ``version`` (the agent
    connection's), as ``_serialize`` shapes it, its keys sorted, so a typed result (the SDK's way)
    reads as the same result kept in its wire form (``WireResult``) does: the same fields indexed,
    none the agent is not answered with (the typed model's ``resultType``). A result that has no wire
    form is read as it is."""

    def form(result: Any) -> Any:
        if version is None:
            return result
        try:
            if type(result) is not WireResult:
                if isinstance(result, BaseModel):
                    result = result.model_dump(by_alias=True, mode="json", exclude_none=True)
                if not isinstance(result, dict):
                    return result
                result = methods.serialize_server_result(METHOD, version, result)
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
