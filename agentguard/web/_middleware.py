"""The one gate every request passes: Host and Origin checks, authentication, CSRF, security headers.

A pure ASGI middleware, so it covers every route (streams included) and nothing can be added that
skips it. Paths that answer without a login: the login page itself and the static files (CSS, JS).
"""

from __future__ import annotations

import secrets
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentguard.web._state import Console

__all__ = ["CSP", "SESSION_COOKIE", "Gate"]

SESSION_COOKIE = "agentguard_session"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_OPEN_PATHS = frozenset({"/login"})  # answered without a login (they hold no data)
_OPEN_PREFIX = "/static/"
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def host_name(host: str) -> str:
    """``example.org`` from ``example.org:8443``, ``::1`` from ``[::1]:8765``; ``""`` (served nowhere)
    for anything else, e.g. ``[::1]evil.example`` or a port that is not digits."""
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :] if end > 0 else ""
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return ""
        return host[1:end]
    if host.count(":") == 1:
        name, port = host.split(":")
        return name if port.isdigit() else ""
    return host


class Gate:
    """Wraps the console app; see the module docstring."""

    def __init__(self, app: ASGIApp, console: Console) -> None:
        self.app = app
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_headers(send)
        headers = _headers(scope)
        path: str = scope["path"]
        method: str = scope["method"]
        options = self.console.options
        if host_name(headers.get("host", "")).lower() not in options.allowed_hosts:
            await _plain(send, 421, "this host name is not served here (see --allow-host)")
            return
        origin = headers.get("origin")
        if origin is not None and method not in _SAFE_METHODS and not self._same_origin(origin, headers):
            await _plain(send, 403, "cross-origin request refused")
            return
        if path in _OPEN_PATHS or path.startswith(_OPEN_PREFIX):
            await self.app(scope, receive, send)
            return
        who = self._authenticate(headers)
        if who is None:
            if path.startswith("/api/"):
                await _json(send, 401, {"error": "authentication required"}, www_auth=True)
            else:
                await _redirect(send, "/login")
            return
        approver, token_id, csrf, session_id = who
        by_cookie = session_id is not None
        if by_cookie and method not in _SAFE_METHODS:
            sent = headers.get("x-csrf-token", "")
            if not sent or not secrets.compare_digest(sent, csrf):
                await _json(send, 403, {"error": "missing or wrong CSRF token"})
                return
        state = scope.setdefault("state", {})
        state.update(approver=approver, token_id=token_id, csrf=csrf, session_id=session_id)
        await self.app(scope, receive, send)

    def _same_origin(self, origin: str, headers: dict[str, str]) -> bool:
        parts = urlsplit(origin)
        want = "https" if self.console.options.tls else "http"
        return parts.scheme == want and parts.netloc.lower() == headers.get("host", "").lower()

    def _authenticate(self, headers: dict[str, str]) -> tuple[str, str, str, str | None] | None:
        """(approver, token id, CSRF token, session id when it came from the cookie) or ``None``."""
        auth = headers.get("authorization", "")
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer":
                return None
            record = self.console.tokens.check(token.strip())
            return (record.approver, record.id, "", None) if record else None
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is no session
            return None
        morsel = cookie.get(SESSION_COOKIE)
        session = self.console.sessions.get(morsel.value) if morsel else None
        if session is None or not self.console.tokens.is_active(session.token_id):
            return None
        return session.approver, session.token_id, session.csrf, session.id

    def _with_headers(self, send: Send) -> Send:
        tls = self.console.options.tls

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                names = {k.lower() for k, _ in message.get("headers", [])}
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                if tls:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return wrapped


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _plain(send: Send, status: int, text: str) -> None:
    await _respond(send, status, text.encode(), [(b"content-type", b"text/plain; charset=utf-8")])


async def _json(send: Send, status: int, data: Any, *, www_auth: bool = False) -> None:
    headers = [(b"content-type", b"application/json")]
    if www_auth:
        headers.append((b"www-authenticate", b'Bearer realm="agentguard"'))
    await _respond(send, status, orjson.dumps(data), headers)


async def _redirect(send: Send, to: str) -> None:
    await _respond(send, 303, b"", [(b"location", to.encode()), (b"content-length", b"0")])
