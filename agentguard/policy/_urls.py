"""URL allowlist patterns: scheme-, host- and port-aware, parsed the way ``urllib`` parses requests.

A URL the matcher cannot read unambiguously (backslashes, whitespace, control characters, bad
ports, hosts whose IDNA form does not round-trip, encoded slashes in a matched path) never matches,
so an allow rule fails closed. Hosts are lowercased, IDNA-encoded and stripped of one trailing dot;
numeric IPv4 spellings (``2130706433``, ``0x7f.1``) become dotted quads so deny rules still catch them.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import socket
import unicodedata
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from wcmatch import glob
from wcmatch._wcparse import PatternLimitException

__all__ = ["UrlPattern", "normalise_url", "path_glob_matches"]

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$")
_BAD_CHARS = re.compile(r"[\\\s\x00-\x1f\x7f]")
_ENCODED_SEPARATOR = re.compile(r"%(?:2f|5c|2e|00)", re.IGNORECASE)
_PATH_FLAGS = glob.GLOBSTAR | glob.DOTGLOB | glob.BRACE


def path_glob_matches(path: str, pattern: str) -> bool:
    """wcmatch glob with ``**``; ``dir/**`` also matches ``dir`` itself."""
    if glob.globmatch(path, pattern, flags=_PATH_FLAGS):
        return True
    return pattern.endswith("/**") and glob.globmatch(path, pattern[:-3], flags=_PATH_FLAGS)


@dataclass(frozen=True, slots=True)
class NormalisedUrl:
    scheme: str
    host: str
    port: int | None
    path: str
    raw_path_ok: bool


def _host(raw: str) -> str | None:
    host = raw.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host or host.endswith("."):
        return None
    if ":" in host:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            return None
        mapped = address.ipv4_mapped  # ::ffff:127.0.0.1 reaches 127.0.0.1
        return str(mapped) if mapped is not None else address.compressed
    if not host.isascii():
        host = unicodedata.normalize("NFC", host)
        try:
            encoded = host.encode("idna").decode("ascii")
            if encoded.encode("ascii").decode("idna") != host:
                return None  # mapped characters (full-width dots, sharp s...) could be read two ways
        except UnicodeError:
            return None
        host = encoded
    if re.fullmatch(r"[0-9a-fx.]+", host) and any(ch.isdigit() for ch in host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            if re.fullmatch(r"[0-9.]+", host):
                return None  # digits that are not an address: refuse to guess
    if not all(_LABEL.match(label) for label in host.split(".")):
        return None
    return host


def normalise_url(url: str) -> NormalisedUrl | None:
    """The parts a rule compares, or ``None`` when the URL cannot be read unambiguously."""
    if not url or len(url) > 8192 or _BAD_CHARS.search(url):
        return None
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
        hostname = parts.hostname
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not _SCHEME.match(scheme) or not hostname or not parts.netloc:
        return None
    host = _host(hostname)
    if host is None:
        return None
    if port is None:
        port = DEFAULT_PORTS.get(scheme)
    raw_path = parts.path or "/"
    path = posixpath.normpath(raw_path)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if raw_path.endswith("/") and path != "/":
        path += "/"
    return NormalisedUrl(scheme, host, port, path, not _ENCODED_SEPARATOR.search(raw_path))


@dataclass(frozen=True, slots=True)
class UrlPattern:
    """``https://*.example.com``, ``https://example.com:*``, ``http://localhost:8080/api/**``."""

    text: str
    scheme: str  # "*" for any
    host: str  # "*" any, "*.suffix" subdomains, else exact
    port: int | None  # None + any_port False: the scheme's default port
    any_port: bool
    path: str | None

    @classmethod
    def parse(cls, pattern: str) -> UrlPattern:
        scheme, sep, rest = pattern.partition("://")
        if not sep:
            raise ValueError(f"URL pattern {pattern!r} needs a scheme, e.g. 'https://{pattern}'")
        scheme = scheme.lower()
        if scheme != "*" and not _SCHEME.match(scheme):
            raise ValueError(f"URL pattern {pattern!r}: bad scheme {scheme!r}")
        authority, slash, path_rest = rest.partition("/")
        path = "/" + path_rest if slash else None
        if "@" in authority:
            raise ValueError(f"URL pattern {pattern!r}: user info is not allowed in a pattern")
        host_text, port_text = authority, ""
        if authority.startswith("["):
            end = authority.find("]")
            if end < 0:
                raise ValueError(f"URL pattern {pattern!r}: unclosed '['")
            host_text, port_text = authority[1:end], authority[end + 1 :]
            if port_text and not port_text.startswith(":"):
                raise ValueError(f"URL pattern {pattern!r}: junk after ']'")
            port_text = port_text[1:]
        elif ":" in authority:
            host_text, _, port_text = authority.rpartition(":")
        any_port = port_text == "*"
        port: int | None = None
        if port_text and not any_port:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ValueError(f"URL pattern {pattern!r}: bad port {port_text!r}")
            port = int(port_text)
        elif not port_text and scheme != "*" and scheme not in DEFAULT_PORTS:
            raise ValueError(f"URL pattern {pattern!r}: scheme {scheme!r} has no default port; add ':PORT'")
        host = cls._parse_host(pattern, host_text)
        if path is not None:
            try:
                glob.compile(path, flags=_PATH_FLAGS)
            except (ValueError, re.error, PatternLimitException) as exc:
                raise ValueError(f"URL pattern {pattern!r}: bad path glob: {exc}") from None
        return cls(pattern, scheme, host, port, any_port, path)

    @staticmethod
    def _parse_host(pattern: str, text: str) -> str:
        if text == "*":
            return "*"
        wildcard = text.startswith("*.")
        core = text[2:] if wildcard else text
        if any(ch in core for ch in "*?[]{}"):
            raise ValueError(f"URL pattern {pattern!r}: only a leading '*.' wildcard is allowed in the host")
        host = _host(core)
        if host is None:
            raise ValueError(f"URL pattern {pattern!r}: bad host {core!r}")
        return "*." + host if wildcard else host

    def matches(self, url: str) -> bool:
        parts = normalise_url(url)
        if parts is None:
            return False
        if self.scheme != "*" and parts.scheme != self.scheme:
            return False
        if not self._host_matches(parts.host):
            return False
        if not self.any_port:
            wanted = self.port if self.port is not None else DEFAULT_PORTS.get(parts.scheme)
            if wanted is None or parts.port != wanted:
                return False
        if self.path is None:
            return True
        if not parts.raw_path_ok:
            return False
        return path_glob_matches(parts.path, self.path)

    def _host_matches(self, host: str) -> bool:
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            suffix = self.host[1:]
            return host.endswith(suffix) and len(host) > len(suffix)
        return host == self.host
