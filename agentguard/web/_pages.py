"""The HTML pages, rendered on the server with Jinja2 (autoescaping every value), and the login.

The pages hold no inline script or style (the Content Security Policy forbids both); ``app.js``
reads what it needs from ``data-`` attributes and answers through the JSON API. Every value a
template prints passes :func:`_visible`: no page shows an invisible or bidi character as it is.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from agentguard.approval import (
    GrantScope,
    key_argument_text,
    render_rule,
    short_duration,
    short_refs,
    shown_text,
    suggest_pattern,
)
from agentguard.errors import ApprovalError
from agentguard.web._audit import AuditFilters, audit_rows, chain_status
from agentguard.web._middleware import SESSION_COOKIE
from agentguard.web._render import code_css, detail
from agentguard.web._state import Console

__all__ = ["page_routes"]

_LOGIN_COOKIE = "agentguard_login"


def _visible(value: Any) -> Any:
    """A printed value with invisible/bidi characters as ``⟦U+XXXX⟧`` marks, on every page (audit
    records, grants, names), not only in the arguments an approval page already marks."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    shown, hidden = shown_text(str(value))
    if not hidden:
        return value
    if isinstance(value, Markup):  # Markup.replace escapes the mark and keeps the markup
        for ch in {c for c in str(value) if shown_text(c)[1]}:
            value = value.replace(ch, shown_text(ch)[0])
        return value
    return shown


_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=_visible,
)
_ENV.globals.update(short_duration=short_duration, key_argument_text=key_argument_text)
_SCOPES = (
    (GrantScope.PATTERN, "this tool, matching a pattern"),
    (GrantScope.CALL, "this exact call"),
    (GrantScope.TOOL, "the whole tool, for this agent"),
)


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    state = request.scope.get("state", {})
    html = _ENV.get_template(template).render(
        approver=state.get("approver"), csrf=state.get("csrf", ""), path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status)


async def _queue(request: Request) -> Response:
    console = _console(request)
    pending = await asyncio.to_thread(console.store.pending)
    names = short_refs(pending)
    return _page(request, "queue.html", requests=pending, names=names, now=console.store.now())


async def _request(request: Request) -> Response:
    console = _console(request)
    try:
        queued = await asyncio.to_thread(console.store.get, request.path_params["id"])
    except ApprovalError:
        return _page(request, "missing.html", 404, what="request")
    options = console.options
    view = await asyncio.to_thread(
        detail,
        queued,
        now=console.store.now(),
        workspace=options.workspace,
        profiles=options.profiles,
        default_profile=options.default_profile,
        schema=console.schemas.get(queued.call.tool),
    )
    suggested = suggest_pattern(queued.call)
    return _page(request, "detail.html", view=view, q=queued, suggested=suggested, scopes=_SCOPES)


async def _grants(request: Request) -> Response:
    console = _console(request)
    show_all = request.query_params.get("all") == "1"
    found = await asyncio.to_thread(console.store.grants, include_inactive=show_all)
    now = console.store.now()
    rows = [(g, g.state(now), render_rule(g)) for g in found]
    return _page(request, "grants.html", grants=rows, show_all=show_all)


async def _audit(request: Request) -> Response:
    console = _console(request)
    filters = AuditFilters.from_query(request.query_params)
    error = None
    try:
        rows = await asyncio.to_thread(
            audit_rows,
            console.options.audit_path,
            filters,
            limit=console.options.audit_limit,
            now=console.store.now(),
        )
    except ValueError as exc:
        rows, error = [], str(exc)
    chain = await asyncio.to_thread(chain_status, console.options.audit_path)
    limit = console.options.audit_limit
    return _page(request, "audit.html", rows=rows, filters=filters, chain=chain, error=error, limit=limit)


async def _login_form(request: Request, error: str | None = None, status: int = 200) -> Response:
    # Reused while the browser holds one: a second GET (a favicon request redirected here) must not
    # invalidate the form already on screen.
    held = request.cookies.get(_LOGIN_COOKIE, "")
    nonce = held if 20 <= len(held) <= 64 and held.replace("-", "").replace("_", "").isalnum() else ""
    nonce = nonce or secrets.token_urlsafe(24)
    response = _page(request, "login.html", status, login_csrf=nonce, error=error)
    response.set_cookie(
        _LOGIN_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=_console(request).options.tls,
        path="/login",
    )
    return response


async def _login(request: Request) -> Response:
    if request.method == "GET":
        return await _login_form(request)
    console = _console(request)
    client = request.client.host if request.client else "?"
    wait = console.limiter.retry_after(client)
    if wait > 0:
        response = await _login_form(request, f"Too many failed logins; try again in {int(wait) + 1} s.", 429)
        response.headers["retry-after"] = str(int(wait) + 1)
        return response
    form = await request.form()
    sent_nonce = str(form.get("login_csrf", ""))
    cookie_nonce = request.cookies.get(_LOGIN_COOKIE, "")
    if not sent_nonce or not cookie_nonce or not secrets.compare_digest(sent_nonce, cookie_nonce):
        return await _login_form(request, "The login form expired; try again.", 403)
    record = console.tokens.check(str(form.get("token", "")).strip())
    if record is None:
        console.limiter.failed(client)
        return await _login_form(request, "That token is not valid (unknown or revoked).", 401)
    session = console.sessions.start(record.approver, record.id)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        max_age=int(console.sessions.ttl_s),
        httponly=True,
        samesite="strict",
        secure=console.options.tls,
        path="/",
    )
    response.delete_cookie(_LOGIN_COOKIE, path="/login")
    return response


async def _logout(request: Request) -> Response:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        _console(request).sessions.end(session_id)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def _code_css(request: Request) -> Response:
    return Response(code_css(), media_type="text/css", headers={"cache-control": "max-age=3600"})


page_routes = [
    Route("/", _queue, methods=["GET"]),
    Route("/requests/{id}", _request, methods=["GET"]),
    Route("/grants", _grants, methods=["GET"]),
    Route("/audit", _audit, methods=["GET"]),
    Route("/login", _login, methods=["GET", "POST"]),
    Route("/logout", _logout, methods=["POST"]),
    Route("/static/code.css", _code_css, methods=["GET"]),
]
