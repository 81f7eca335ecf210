"""The JSON API under ``/api/``: what scripts call with ``Authorization: Bearer TOKEN`` and what the
pages' script calls with the session cookie and CSRF header. Every answer goes through an
:class:`ApprovalDesk` named after the logged-in approver, so the audit log records who answered.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agentguard.approval import (
    AlreadyAnswered,
    GrantScope,
    QueuedRequest,
    grant_json,
    parse_duration,
    render_rule,
    request_json,
)
from agentguard.errors import AgentGuardError, ApprovalError
from agentguard.web._audit import AuditFilters, audit_rows, chain_status
from agentguard.web._state import Console

__all__ = ["api_routes", "validate_edit"]

_MAX_BODY = 1024 * 1024
_KEEPALIVE_S = 15.0


class _BadRequest(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    if int(request.headers.get("content-length") or 0) > _MAX_BODY:
        raise _BadRequest(413, "request body too large")
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise _BadRequest(413, "request body too large")
    if not raw.strip():
        return {}
    if "json" not in request.headers.get("content-type", ""):
        raise _BadRequest(415, "send the body as application/json")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _BadRequest(400, f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _BadRequest(400, "body must be a JSON object")
    return data


def _pending(console: Console, request_id: str) -> QueuedRequest:
    """The request with this id (or unique id prefix, as the CLI takes)."""
    try:
        return console.store.lookup(request_id)
    except ApprovalError as exc:
        raise _BadRequest(404, str(exc)) from None


def validate_edit(console: Console, queued: QueuedRequest, arguments: Any) -> dict[str, Any]:
    """Edited arguments checked against the tool's schema (when the console knows it) before they
    are sent; the guard validates and decides them again either way."""
    if not isinstance(arguments, dict):
        raise _BadRequest(422, "edited arguments must be a JSON object", field="arguments")
    model = console.schemas.get(queued.call.tool)
    if model is not None:
        try:
            model.model_validate(arguments)
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in e["loc"]) or "(arguments)", "problem": e["msg"]}
                for e in exc.errors()
            ]
            text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
            raise _BadRequest(
                422, f"invalid arguments for {queued.call.tool}: {text}", field="arguments", problems=problems
            ) from None
    return arguments


def _grant_choice(data: Any) -> tuple[GrantScope, str | None, timedelta | None]:
    if not isinstance(data, dict):
        raise _BadRequest(400, "always must be an object: {scope, pattern, expires}", field="always")
    try:
        scope = GrantScope(str(data.get("scope", "")))
    except ValueError:
        raise _BadRequest(
            400, f"scope must be one of {', '.join(s.value for s in GrantScope)}", field="scope"
        ) from None
    pattern = data.get("pattern")
    if pattern is not None and not isinstance(pattern, str):
        raise _BadRequest(400, "pattern must be a string", field="pattern")
    expires = str(data.get("expires") or "").strip()
    try:
        expires_in = parse_duration(expires) if expires else None
    except ApprovalError as exc:
        raise _BadRequest(400, str(exc), field="expires") from None
    return scope, (pattern if scope is GrantScope.PATTERN else None), expires_in


_Handler = Callable[[Request, Console], Awaitable[Response]]


def _answering(fn: _Handler) -> Callable[[Request], Awaitable[Response]]:
    """Map what can go wrong while answering to a status code with the reason."""

    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request, _console(request))
        except _BadRequest as exc:
            return _error(exc.status, str(exc), **exc.extra)
        except AlreadyAnswered as exc:
            return _error(409, str(exc))
        except AgentGuardError as exc:
            return _error(400, str(exc), **{k: v for k, v in exc.data.items() if k == "field"})

    return endpoint


async def _list_requests(request: Request, console: Console) -> Response:
    pending = await asyncio.to_thread(console.store.pending)
    return JSONResponse({"requests": [request_json(q) for q in pending]})  # as `approvals list --json`


async def _show_request(request: Request, console: Console) -> Response:
    queued = await asyncio.to_thread(_pending, console, request.path_params["id"])
    return JSONResponse(request_json(queued))


async def _approve(request: Request, console: Console) -> Response:
    data = await _body(request)
    queued = await asyncio.to_thread(_pending, console, request.path_params["id"])
    desk = console.desk(request.state.approver)
    if "arguments" in data and "always" in data:
        raise _BadRequest(400, "edit the arguments or approve always, not both")
    if "always" in data:
        scope, pattern, expires_in = _grant_choice(data["always"])
        shown = data["always"].get("condition")
        if shown is not None:  # the page sends the condition its preview showed: store that or nothing
            if not isinstance(shown, str):
                raise _BadRequest(400, "condition must be the previewed condition text", field="condition")
            would = desk.preview_grant(queued.ref, scope, pattern=pattern, expires_in=expires_in)
            if would.condition != shown:
                raise _BadRequest(
                    409,
                    f"the grant would be {would.condition!r}, not the previewed {shown!r}; "
                    "check the preview and approve again",
                    field="pattern",
                )
        answered, grant = await asyncio.to_thread(
            desk.approve_always, queued.ref, scope, pattern=pattern, expires_in=expires_in
        )
        now = console.store.now()
        return JSONResponse({"request": request_json(answered), "grant": grant_json(grant, now)})
    edited = validate_edit(console, queued, data["arguments"]) if "arguments" in data else None
    answered = await asyncio.to_thread(desk.approve, queued.ref, edited_arguments=edited)
    return JSONResponse({"request": request_json(answered)})


async def _deny(request: Request, console: Console) -> Response:
    data = await _body(request)
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise _BadRequest(400, "a denial needs a reason: the agent is told it", field="reason")
    queued = await asyncio.to_thread(_pending, console, request.path_params["id"])
    answered = await asyncio.to_thread(console.desk(request.state.approver).deny, queued.ref, reason)
    return JSONResponse({"request": request_json(answered)})


async def _preview(request: Request, console: Console) -> Response:
    data = await _body(request)
    queued = await asyncio.to_thread(_pending, console, request.path_params["id"])
    scope, pattern, expires_in = _grant_choice(data)
    grant = console.desk(request.state.approver).preview_grant(
        queued.ref, scope, pattern=pattern, expires_in=expires_in
    )
    return JSONResponse({"rule": render_rule(grant), "grant": grant_json(grant, console.store.now())})


async def _grants(request: Request, console: Console) -> Response:
    include = request.query_params.get("all") in ("1", "true", "yes")
    found = await asyncio.to_thread(console.store.grants, include_inactive=include)
    now = console.store.now()
    return JSONResponse({"grants": [grant_json(g, now) for g in found]})


async def _revoke(request: Request, console: Console) -> Response:
    grant_id = request.path_params["id"]
    try:
        console.store.lookup_grant(grant_id)
    except ApprovalError as exc:
        raise _BadRequest(404, str(exc)) from None
    grant = await asyncio.to_thread(console.desk(request.state.approver).revoke, grant_id)
    return JSONResponse({"grant": grant_json(grant, console.store.now())})


async def _audit(request: Request, console: Console) -> Response:
    filters = AuditFilters.from_query(request.query_params)
    try:
        rows = await asyncio.to_thread(
            audit_rows,
            console.options.audit_path,
            filters,
            limit=console.options.audit_limit,
            now=console.store.now(),
        )
    except ValueError as exc:
        raise _BadRequest(400, str(exc)) from None
    chain = await asyncio.to_thread(chain_status, console.options.audit_path)
    return JSONResponse({"records": [dataclasses.asdict(r) for r in rows], "chain": chain})


def _queue_json(console: Console, pending: list[QueuedRequest]) -> dict[str, Any]:
    """The pending queue with the store's clock, so pages count down on the server's time."""
    return {"requests": [request_json(q) for q in pending], "now": console.store.now().isoformat()}


async def _events(request: Request) -> Response:
    """Server-sent events: the pending queue, sent at once and again whenever the store changes."""
    console = _console(request)
    token_id: str = request.state.token_id
    session_id: str | None = request.state.session_id

    def valid() -> bool:  # checked before every message: a revoke or logout ends the stream
        return console.tokens.is_active(token_id) and (
            session_id is None or console.sessions.get(session_id) is not None
        )

    async def stream() -> AsyncIterator[bytes]:
        seen = -1
        while not await request.is_disconnected() and await asyncio.to_thread(valid):
            version = console.store.version()
            if version != seen:
                seen = version
                pending = await asyncio.to_thread(console.store.pending)
                data = orjson.dumps(_queue_json(console, pending))
                yield b"event: queue\ndata: " + data + b"\n\n"
            else:
                yield b": keep-alive\n\n"
            await console.store.await_change(seen, _KEEPALIVE_S)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


api_routes = [
    Route("/api/requests", _answering(_list_requests), methods=["GET"]),
    Route("/api/requests/{id}", _answering(_show_request), methods=["GET"]),
    Route("/api/requests/{id}/approve", _answering(_approve), methods=["POST"]),
    Route("/api/requests/{id}/deny", _answering(_deny), methods=["POST"]),
    Route("/api/requests/{id}/preview-grant", _answering(_preview), methods=["POST"]),
    Route("/api/grants", _answering(_grants), methods=["GET"]),
    Route("/api/grants/{id}/revoke", _answering(_revoke), methods=["POST"]),
    Route("/api/audit", _answering(_audit), methods=["GET"]),
    Route("/api/events", _events, methods=["GET"]),
]
