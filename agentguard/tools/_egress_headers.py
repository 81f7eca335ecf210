"""Request headers the egress proxy does not forward: hop-by-hop ones, and those that would make a
server route, authorise or run the request other than as the decided request line says."""

from __future__ import annotations

__all__ = ["HOP_BY_HOP", "routes_elsewhere"]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"proxy-connection",
        b"keep-alive",
        b"proxy-authorization",
        b"proxy-authenticate",
        b"te",
        b"trailer",
        b"upgrade",
        b"host",
    }
)
# Headers that tell a server the request meant another host, scheme, path, method or client than
# the request line says (proxies, load balancers, rewrite and method-override middleware): by
# family, so a variant no list names (X-Forwarded-Prefix, X-Original-Host, X-HTTP-Host-Override)
# goes too. Not an allowlist: the proxy cannot know an API's own headers (X-Api-Key, ...).
# Names are compared with ``_`` read as ``-``, as CGI and WSGI servers read them (both become the
# same ``HTTP_*`` key), and a name with an ``ip`` or ``addr`` word names a client address
# (X-Originating-IP, CF-Connecting-IP, X-Remote-Addr).
_ROUTING_PREFIXES = (
    b"x-forwarded",
    b"x-original",
    b"x-rewrite",
    b"x-http-",
    b"x-method",
    b"x-host",
    b"x-real",
    b"x-originating",
)
_CLIENT_WORDS = frozenset({b"ip", b"addr"})
_ROUTING_NAMES = frozenset(
    {
        b"forwarded",
        b"via",
        b"x-client-ip",
        b"client-ip",
        b"true-client-ip",
        b"x-cluster-client-ip",
        b"x-url-scheme",
        b"x-scheme",
        b"front-end-https",
        b"x-override-url",
        b"proxy",  # CGI's HTTP_PROXY: the server's own outbound proxy (httpoxy)
    }
)
# Written with ``_``, these would reach a CGI-style server as the framing or hop-by-hop header the
# proxy itself sets or removes (``Content_Length`` is HTTP_CONTENT_LENGTH).
_SPELLED_AS_OWN = HOP_BY_HOP | {b"content-length", b"transfer-encoding"}


def routes_elsewhere(name: bytes) -> bool:
    """Whether a request header could make the server route or authorise other than the request line."""
    lowered = name.lower().replace(b"_", b"-")
    if lowered in _ROUTING_NAMES or lowered.startswith(_ROUTING_PREFIXES):
        return True
    if b"_" in name and lowered in _SPELLED_AS_OWN:
        return True
    return not _CLIENT_WORDS.isdisjoint(lowered.split(b"-"))
