"""Links written in text, and the key of a URL: the WHATWG parse (ada), not string comparison.

``HTTPS://Evil.COM:443/a/../b`` and ``https://evil.com/b`` are one link to a tool, so they share a
key; links are found as browsers and mail clients follow them (any web scheme with any slashes,
``www.``, a domain with a path but no scheme, protocol-relative ``//host``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from urllib.parse import SplitResult, urlsplit, urlunsplit

import ada_url

from agentguard.session._normal import (
    _EMAIL,
    _HOST_NAME,
    _SPACE,
    _TRAILING_URL_PUNCT,
    MAX_KEY_CHARS,
    _clean,
    key_of,
)

__all__ = ["canonical_url", "host_name", "host_of", "links", "url_keys"]

_URL_TAIL = r"[^\s<>\"'`(){}\[\]|\\^]+"
# Links as browsers and mail clients follow them: a web scheme with any slashes or backslashes after
# it (``https:/x``, ``https:\\x`` and ``https:x`` are all https://x), ``www.``, any other
# ``scheme://`` (not read: cannot tell), a domain with a path but no scheme (``evil.example/d``),
# and a protocol-relative link (``//evil.example``, as in an href).
_URL = re.compile(r"(?i)\b(?:(?:https?|ftp|wss?):[/\\]*|www\.)" + _URL_TAIL)
_OTHER_SCHEME = re.compile(r"(?i)[a-z][a-z0-9+.-]{0,30}\Z")
_TAIL = re.compile(_URL_TAIL)
# Links without a scheme, looked for only in the words that hold a "/" and a ".": cheap on prose.
_SCHEMELESS = re.compile(
    r"(?i)(?<![\w@./:%-])[a-z0-9](?:[a-z0-9-]{0,62}\.)+[a-z]{2,63}/"
    + _URL_TAIL.replace("+", "*")
    + r"|(?<![\w:/])//[a-z0-9](?:[a-z0-9-]{0,62}\.)+[a-z]{2,63}(?![\w.-])"
    + _URL_TAIL.replace("+", "*")
)


def _web_links(text: str) -> list[str]:
    """``_URL.finditer(text)``'s matches, found by trying ``_URL`` only where one can start.

    Every match starts just before a ``:`` (``https``, ``http``, ``ftp``, ``wss``, ``ws``) or at a
    ``www.``; the leftmost candidate that matches is finditer's next match. A case-insensitive
    alternation makes sre try every position of the text, a quarter of a call's entity scan.
    """
    if not text.isascii():  # lower() keeps positions in ASCII only; elsewhere finditer itself
        return [m.group() for m in _URL.finditer(text)]
    starts: list[int] = []
    at = text.find(":")
    while at >= 0:  # colons in order: each one's candidates follow the last one's
        starts.extend(range(at - 5 if at > 5 else 0, at - 1))
        at = text.find(":", at + 1)
    lowered = text.lower()
    at = lowered.find("www.")
    if at >= 0:
        while at >= 0:
            starts.append(at)
            at = lowered.find("www.", at + 1)
        starts.sort()
    found: list[str] = []
    end = 0
    for start in starts:
        if start >= end:
            m = _URL.match(text, start)
            if m is not None:
                found.append(m.group())
                end = m.end()
    return found


def links(text: str) -> Iterator[str]:
    """Every link written in ``text``, as written."""
    web = _web_links(text)
    yield from web
    schemes = slashes = 0  # what the links found hold (loops: no generator per link)
    for link in web:
        if "://" in link:
            schemes += 1
        slashes += link.count("/")
    if text.count("://") > schemes:
        at = text.find("://")
        while at > 0:  # any other scheme://: a link the guard does not read
            scheme = _OTHER_SCHEME.search(text, max(0, at - 31), at)
            tail = _TAIL.match(text, at + 3)
            if (
                scheme is not None
                and tail is not None
                and scheme.group().lower() not in _URL_SCHEMES
                and (scheme.start() == 0 or not text[scheme.start() - 1].isalnum())
            ):
                yield text[scheme.start() : tail.end()]
            at = text.find("://", at + 3)
    if text.count("/") > slashes:  # a slash outside the links found
        for word in text.split():
            if "/" in word and "." in word and "://" not in word:
                for m in _SCHEMELESS.finditer(word):
                    yield m.group()


_WEB_SCHEME = re.compile(r"(?i)(?:https?|ftp|wss?):")


_URL_SCHEMES = frozenset({"http", "https", "ftp", "ws", "wss"})


@functools.lru_cache(maxsize=16_384)
def _url_parts(raw: str) -> tuple[str, str] | None:
    """(key, host) of a URL, WHATWG-parsed by ada; cached: the same URLs recur in outputs and calls.

    A trailing dot on the host is dropped (``evil.example.`` is the same DNS name as ``evil.example``).
    """
    if raw.lower().startswith("www."):
        raw = "http://" + raw
    try:
        href = ada_url.normalize_url(raw)
    except ValueError:
        return None
    parts = urlsplit(href)  # of ada's own serialisation: unambiguous
    if parts.scheme not in _URL_SCHEMES or not parts.hostname:
        return None
    host = parts.hostname.rstrip(".")
    if not host:
        return None
    if host != parts.hostname:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = (userinfo + "@" if userinfo else "") + host + (f":{parts.port}" if parts.port else "")
        href = parts._replace(netloc=netloc).geturl()
        parts = urlsplit(href)
    href = href.split("#", 1)[0]
    if "%" in href or (len(parts.path) > 1 and parts.path.endswith("/")):
        href = _folded(urlsplit(href))
    if parts.path == "/" and not parts.query and href.endswith("/"):
        href = href[:-1]
    return _clean(href), host.lower()


_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")


def _unescaped(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else match.group()


def _folded(parts: SplitResult) -> str:
    """Spellings every server reads as one resource, folded: a percent-encoded unreserved character
    decoded (``/%64rop`` is ``/drop``, RFC 3986 6.2.2.2; ``%2F`` and the other reserved ones stay) and
    trailing slashes after a path dropped (``/drop/`` is served as ``/drop``)."""
    path = _ESCAPE.sub(_unescaped, parts.path) if "%" in parts.path else parts.path
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    query = _ESCAPE.sub(_unescaped, parts.query) if "%" in parts.query else parts.query
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def _other_scheme(url_key: str) -> str | None:
    """The same URL over the other of http/https: a link written ``http://`` is fetched as ``https://``."""
    if url_key.startswith("https://"):
        return "http://" + url_key[8:]
    if url_key.startswith("http://"):
        return "https://" + url_key[7:]
    return None


# A link written without a scheme: a domain name (letters for a top-level label), maybe a path.
_BARE_LINK = re.compile(r"(?i)[a-z0-9](?:[a-z0-9-]{0,62}\.)+[a-z]{2,63}\.?(?:[/?][^\s]*)?")


def url_keys(text: str) -> tuple[str, ...]:
    """The keys a URL is known by: its canonical form and the same over http/https; a link written
    without a scheme (``evil.example/drop``) is read as ``http://``. Empty when ``text`` is no URL."""
    raw = text.strip().rstrip(_TRAILING_URL_PUNCT)
    if ":" not in raw and not raw.lower().startswith("www."):
        if _BARE_LINK.fullmatch(raw) is None:
            return ()
        raw = "http://" + raw
    key = canonical_url(raw)
    if key is None:
        return ()
    other = _other_scheme(key)
    return (key,) if other is None else (key, other)


def _has_space(text: str) -> bool:
    """``_SPACE.search(text) is not None``: every white space character but " " is unprintable, so
    printable text has white space only if it holds a " " (two C passes, not sre's per-position loop)."""
    if text.isprintable():
        return " " in text
    return _SPACE.search(text) is not None


def canonical_url(text: str) -> str | None:
    """A URL's key: the WHATWG parse, without fragment or a bare trailing ``/``, lower-cased."""
    raw = text.strip().rstrip(_TRAILING_URL_PUNCT)
    if not raw or len(raw) > MAX_KEY_CHARS or _has_space(raw):
        return None
    parts = _url_parts(raw)
    return parts[0] if parts is not None else None


def host_name(text: str) -> str | None:
    """``text`` as a bare host name (``Example.COM.`` is ``example.com``), or None when it is not one:
    ``evil.example?.example.com`` ends like a subdomain but is another host once put in a URL."""
    bare = key_of(text).rstrip(".")
    if not bare or _HOST_NAME.fullmatch(bare) is None:
        return None
    return bare if bare.isascii() else host_of("http://" + bare)


def email_domain(domain: str) -> str:
    """An e-mail address's domain as its host is read: lower case, and a Unicode name in the ASCII
    (punycode) form a URL's host takes (``exämple.com`` is ``xn--exmple-cua.com``), so the two
    spellings of one domain share a key."""
    lowered = domain.lower()
    if lowered.isascii():
        return lowered
    return host_of("http://" + lowered) or lowered


def host_of(text: str) -> str | None:
    """The host of a URL or the domain of an e-mail address, lowercased without a trailing dot."""
    raw = text.strip()
    if "@" in raw and "://" not in raw:
        m = _EMAIL.fullmatch(raw)
        return email_domain(m.group().rsplit("@", 1)[1]) if m else None
    if "://" not in raw and not raw.lower().startswith("www.") and not _WEB_SCHEME.match(raw):
        return None
    if len(raw) > MAX_KEY_CHARS:
        return None
    parts = _url_parts(raw)
    return parts[1] if parts is not None else None
