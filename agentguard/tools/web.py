"""``http.get``: one bounded fetch per guarded call. The shipped policy denies it; a policy may allow hosts.

What runs is what was decided:

* the ``url`` argument is replaced by its normal form while the arguments are validated, before
  the policy sees it (a URL the policy could not read unambiguously is refused there);
* the connection goes to the addresses the policy's ``ip()`` conditions checked
  (``Decision.resolved``), or, when no rule looked at addresses, to one fresh lookup: never a second
  lookup that a rebinding DNS server could answer differently. ``Host`` and TLS SNI stay the name;
* a name's internal addresses (loopback, private, metadata; this host's own and its networks') are
  reached only when a matched rule names them with ``ip()``: an allow on a name is not an allow on
  what it resolves to; an internal address written in the URL, only when the rule names it
  (``ip()``, or a ``url()`` pattern for it);
* redirects are not followed here: each hop is a new guarded call of the same tool, by the same
  agent and session (decided, approved and audited on its own), at most ``MAX_REDIRECTS`` deep.

Environment proxies are not used (a proxy would resolve the name itself).
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import math
import socket
import ssl
from collections.abc import Sequence
from typing import Annotated

import ada_url
from pydantic import AfterValidator

from agentguard.context import current_call
from agentguard.detectors import without_cut_token
from agentguard.errors import ToolFailed
from agentguard.models import Effect
from agentguard.policy._addresses import SystemResolver
from agentguard.policy._urls import ParsedUrl, UnreadableUrl, parse_url
from agentguard.tools._internal import decision_names_address, is_internal

__all__ = ["MAX_REDIRECTS", "HttpUrl", "canonical_http_url", "http_get"]

MAX_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
MAX_TIMEOUT_S = 60.0
_HEADERS = {"User-Agent": "agentguard/0.1", "Accept-Encoding": "identity"}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_REFS = frozenset({"url"})
_CHAIN: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("agentguard_http_chain", default=())


def canonical_http_url(value: str) -> str:
    """The URL in normal form (ada's serialisation, no fragment); ValueError if ambiguous or not http(s)."""
    try:
        parsed = parse_url(value)
    except UnreadableUrl as exc:
        raise ValueError(f"URL cannot be read unambiguously: {exc.reason}") from None
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"http.get only fetches http(s) URLs, not {parsed.scheme}:")
    return parsed.href


HttpUrl = Annotated[str, AfterValidator(canonical_http_url)]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def _addresses(url: ParsedUrl) -> Sequence[str]:
    """The checked addresses for this host, else one lookup (the connection uses only these).

    Internal addresses (loopback, private, metadata, ...) are used only when a matched rule names
    them: with ``ip()``, or, for an address written in the URL, with a ``url()`` pattern for that
    very address, or a person approved the URL that shows it. ``http://*`` or ``*`` is not a
    decision about ``169.254.169.254``.
    """
    ctx = current_call()
    if url.ip is not None:
        address = url.ip.compressed
        if is_internal(address) and (
            ctx is None
            or (
                ctx.decision.effect is not Effect.ASK  # it ran: a person approved this very address
                and not decision_names_address(ctx.decision, address, _REFS, literal=url.host)
            )
        ):
            raise ToolFailed(
                f"http.get: {url.host} is an internal address: reached only when the deciding rule "
                "names it, in a positive ip() range or a url() pattern for that address",
                tool="http.get",
                host=url.host,
                address=address,
            )
        return [address]
    pinned = ctx.decision.resolved.get(url.host) if ctx is not None else None
    addresses = list(pinned) if pinned else list(SystemResolver().resolve(url.host))
    for address in addresses:
        if is_internal(address) and (ctx is None or not decision_names_address(ctx.decision, address, _REFS)):
            raise ToolFailed(
                f"http.get: {url.host} is an internal address ({address}): reached only when the "
                "deciding rule names that address in a positive ip() range",
                tool="http.get",
                host=url.host,
                address=address,
            )
    return addresses


def _fetch(url: ParsedUrl, timeout_s: float) -> tuple[int, str | None, bytes]:
    parts = ada_url.parse_url(url.href)
    target = (parts["pathname"] or "/") + parts["search"]
    host = url.ip.compressed if url.ip is not None else url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    error: OSError | None = None
    for address in _addresses(url):
        conn: http.client.HTTPConnection
        if url.scheme == "https":
            conn = _PinnedHTTPS(host, port, address, timeout_s, ssl.create_default_context())
        else:
            conn = _PinnedHTTP(host, port, address, timeout_s)
        try:
            conn.request(
                "GET", target, headers={"User-Agent": "agentguard/0.1", "Accept-Encoding": "identity"}
            )
            response = conn.getresponse()
            body = response.read(MAX_BYTES + 1)
            return response.status, response.getheader("Location"), body
        except OSError as exc:
            error = exc
        finally:
            conn.close()
    raise error or OSError(f"{url.host}: no address to connect to")


def _follow(current: str, location: str, timeout_s: float) -> str:
    try:
        target = ada_url.join_url(current, location)
    except ValueError:
        raise ToolFailed(f"http.get: bad redirect location {location!r}", tool="http.get") from None
    with contextlib.suppress(ValueError):  # if it is not a URL, the next call refuses it, audited
        target = canonical_http_url(target)  # the form the next call decides on (no fragment)
    ctx = current_call()
    chain = (*_CHAIN.get(), current)
    data = {"tool": "http.get", "location": target, "chain": list(chain)}
    if ctx is None or ctx.guard is None:
        raise ToolFailed(f"http.get: redirect to {target} not followed outside a guarded call", **data)
    if target in chain:
        raise ToolFailed(f"http.get: redirect loop back to {target}", **data)
    if len(chain) > MAX_REDIRECTS:
        raise ToolFailed(f"http.get: more than {MAX_REDIRECTS} redirects", **data)
    token = _CHAIN.set(chain)
    try:
        result = ctx.guard.call(
            ctx.call.tool,
            {"url": target, "timeout_s": timeout_s},
            agent=ctx.call.agent,
            session=ctx.call.session,
            framework=ctx.call.framework,
        )
    finally:
        _CHAIN.reset(token)
    return str(result)


def http_get(url: HttpUrl, timeout_s: float = 10.0) -> str:
    """GET ``url`` (http or https only) and return at most 1 MiB of the body as text."""
    parsed = parse_url(canonical_http_url(url))  # already canonical when called through the guard
    timeout_s = min(max(float(timeout_s), 0.1), MAX_TIMEOUT_S) if math.isfinite(timeout_s) else 10.0
    status, location, body = _fetch(parsed, timeout_s)
    if status in _REDIRECTS and location:
        return _follow(parsed.href, location, timeout_s)
    if status >= 400:
        raise ToolFailed(f"http.get: HTTP {status} from {parsed.href}", tool="http.get", status=status)
    return body_text(body)


def body_text(body: bytes) -> str:
    """``body`` as text, cut at ``MAX_BYTES`` without the token the cut went through (a secret's start
    would reach the model: the result is redacted after the cut, and only whole secrets are found)."""
    text = body[:MAX_BYTES].decode("utf-8", errors="replace")
    if len(body) <= MAX_BYTES:
        return text
    return without_cut_token(text) + "\n[truncated]"
