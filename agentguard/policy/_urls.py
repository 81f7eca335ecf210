"""URLs as the policy reads them: parsed by a WHATWG parser (``ada-url``), refused when ambiguous.

The normal form is what a browser-grade fetcher (and ``http.get``) fetches: WHATWG host parsing
(lowercase, IDNA, IPv4 shorthand/hex/octal to dotted quads, IPv6 compressed), dot segments
(``..``, ``%2e%2e``) resolved, the scheme's default port. Text that other parsers read another
way is *unreadable* and never matches an allow rule: control characters or spaces, ``\\`` before
the query, user info (``a@b``), not exactly ``scheme://host``, IPv6 zone ids, percent-encoded or
remapped Unicode hosts (full-width dots, ``ß``, soft hyphens).

Paths are compared under several readings a server might apply (see :class:`PathMatcher`);
when they disagree about a pattern the answer is ``None``, "cannot tell".
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

import ada_url
from wcmatch import glob
from wcmatch._wcparse import PatternLimitException

__all__ = ["ParsedUrl", "PathMatcher", "UnreadableUrl", "UrlPattern", "parse_url"]

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
MAX_URL_CHARS = 8192
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)")
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_DEVIATIONS = frozenset("ß\u03c2\u200c\u200d")  # IDNA 2003 and 2008 map these to different hosts
_PATH_FLAGS = glob.GLOBSTAR | glob.DOTGLOB | glob.BRACE


class UnreadableUrl(ValueError):
    """The text is not a URL every common parser reads the same way; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Glob:
    """A compiled path glob with ``**``; ``dir/**`` also matches ``dir`` itself."""

    def __init__(self, pattern: str, flags: int) -> None:
        patterns = [pattern, pattern[:-3] or "/"] if pattern.endswith("/**") else [pattern]
        self._matcher = glob.compile(patterns, flags=_PATH_FLAGS | flags)

    def __call__(self, path: str) -> bool:
        return bool(self._matcher.match(path))


class PathMatcher:
    """A path pattern compared under every reading: see :func:`lenient_path`."""

    def __init__(self, pattern: str) -> None:
        loose = unquote_to_bytes(pattern).decode("utf-8", "surrogateescape")
        self._exact = (_Glob(pattern, 0), _Glob(pattern, glob.IGNORECASE))
        self._loose = (_Glob(loose, 0), _Glob(loose, glob.IGNORECASE))

    def verdict(self, path: str) -> bool | None:
        """The pattern's answer when every reading agrees, else ``None`` (cannot tell)."""
        loose = lenient_path(path)
        answers = {m(path) for m in self._exact} | {m(loose) for m in self._loose}
        return answers.pop() if len(answers) == 1 else None


@dataclass(frozen=True, slots=True)
class ParsedUrl:
    """One URL in normal form. ``href`` is ada's serialisation without the fragment."""

    href: str
    scheme: str
    host: str  # DNS name (no trailing dot), dotted quad, or compressed IPv6 without brackets
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None  # set when the host is an address
    port: int | None  # explicit, else the scheme's default (None for unknown schemes)
    path: str  # see canonical_path


def _canonical_escapes(path: str) -> str:
    """Decode escapes of unreserved characters (``%61`` is ``a``), uppercase the rest (``%2f``)."""

    def fix(m: re.Match[str]) -> str:
        byte = int(m.group(1), 16)
        return chr(byte) if byte in _UNRESERVED else "%" + m.group(1).upper()

    return _ESCAPE.sub(fix, path)


def _encode_non_ascii(text: str) -> str:
    if text.isascii():
        return text
    return "".join(ch if ord(ch) < 128 else "".join(f"%{b:02X}" for b in ch.encode()) for ch in text)


def canonical_path(path: str) -> str:
    """The path a rule compares first: WHATWG's (dots resolved), unreserved escapes decoded."""
    return _canonical_escapes(_encode_non_ascii(path)) or "/"


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        elif seg == ".":
            if last:
                out.append("")
        elif seg or not out or last:
            out.append(seg)  # empty segments (``//``) collapse, as many servers do
    joined = "/".join(out)
    return joined if joined.startswith("/") else "/" + joined


def lenient_path(path: str) -> str:
    """How a forgiving server may read a path: ``;params`` dropped, every escape decoded (twice:
    ``%252e`` too), ``\\`` as ``/``, dot segments resolved again.

    :class:`PathMatcher` compares the normal form and this reading, each as written and case-folded.
    """
    text = path
    for _ in range(2):
        text = unquote_to_bytes(text).decode("utf-8", "surrogateescape")
    text = text.replace("\\", "/")
    text = "/".join(seg.split(";", 1)[0] for seg in text.split("/"))
    return _remove_dot_segments(text)


def _host_from_raw(raw_authority: str) -> str:
    if raw_authority.startswith("["):
        return raw_authority[: raw_authority.find("]") + 1]
    return raw_authority.rsplit(":", 1)[0] if ":" in raw_authority else raw_authority


def _check_unicode_host(raw_host: str, ascii_host: str) -> None:
    """A non-ASCII host must be one the IDNA variants agree on and that no mapping rewrote."""
    wanted = unicodedata.normalize("NFC", raw_host.lower())
    if wanted.endswith("."):
        wanted = wanted[:-1]
    if any(ch in _DEVIATIONS for ch in wanted):
        raise UnreadableUrl("host has IDNA deviation characters (ß, ς, ZWJ, ZWNJ)")
    back = ada_url.idna_to_unicode(ascii_host.rstrip("."))
    if back != wanted:
        raise UnreadableUrl(f"host {raw_host!r} is remapped by IDNA (to {back!r})")


def canonical_host(
    hostname: str, host_type: ada_url.HostType, special: bool
) -> tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address | None]:
    """(host as rules compare it, the address when it is an IP literal)."""
    if host_type == ada_url.HostType.IPV6 or hostname.startswith("["):
        try:
            v6 = ipaddress.IPv6Address(hostname.strip("[]"))
        except ValueError:
            raise UnreadableUrl(f"bad IPv6 address {hostname!r}") from None
        mapped = v6.ipv4_mapped  # [::ffff:127.0.0.1] reaches 127.0.0.1
        return (str(mapped) if mapped is not None else v6.compressed), v6
    if host_type == ada_url.HostType.IPV4:
        v4 = ipaddress.IPv4Address(hostname)
        return str(v4), v4
    host = hostname if special else hostname.lower()
    if not special:
        try:
            v4 = ipaddress.IPv4Address(host)
        except ValueError:
            pass
        else:
            return str(v4), v4
    if host.endswith("."):
        host = host[:-1]
    if not host or not all(_LABEL.match(label) for label in host.split(".")):
        raise UnreadableUrl(f"host {hostname!r} is not a DNS name")
    if re.fullmatch(r"[0-9.]+", host):
        raise UnreadableUrl(f"host {hostname!r} is digits but not an address")
    return host, None


def parse_url(text: object) -> ParsedUrl:
    """The normal form of ``text``; raises ``UnreadableUrl`` when it cannot be read one way only."""
    if not isinstance(text, str):
        raise UnreadableUrl("not a string")
    return _parse_str(text)


@functools.lru_cache(maxsize=1024)
def _parse_str(text: str) -> ParsedUrl:
    if not text or len(text) > MAX_URL_CHARS:
        raise UnreadableUrl(f"empty or longer than {MAX_URL_CHARS} characters")
    if _CONTROL_OR_SPACE.search(text):
        raise UnreadableUrl("control character or space")  # WHATWG strips some, other parsers do not
    before_query = re.split(r"[?#]", text, maxsplit=1)[0]
    if "\\" in before_query:
        raise UnreadableUrl("backslash before the query")  # WHATWG reads '/', others do not
    prefix = _PREFIX.match(text)
    if prefix is None:
        raise UnreadableUrl("not of the form scheme://host")
    raw_authority = prefix.group(2)
    if "@" in raw_authority:
        raise UnreadableUrl("user info ('@' before the host)")
    if not raw_authority:
        raise UnreadableUrl("no host")
    try:
        parts = ada_url.parse_url(text)
    except ValueError:
        raise UnreadableUrl("not a valid URL (WHATWG), e.g. an IPv6 zone id or a bad port") from None
    scheme = parts["protocol"].rstrip(":")
    special = parts["scheme_type"] != ada_url.SchemeType.NOT_SPECIAL
    raw_host = _host_from_raw(raw_authority)
    if "%" in raw_host and not raw_host.startswith("["):
        raise UnreadableUrl("percent-encoded host")
    host, ip = canonical_host(parts["hostname"], parts["host_type"], special)
    if not raw_host.isascii():
        _check_unicode_host(raw_host, parts["hostname"])
    port = int(parts["port"]) if parts["port"] else DEFAULT_PORTS.get(scheme)
    href = parts["href"][: -len(parts["hash"])] if parts["hash"] else parts["href"]
    return ParsedUrl(href, scheme, host, ip, port, canonical_path(parts["pathname"]))


def _pattern_path(path: str) -> str:
    return _canonical_escapes(_encode_non_ascii(path))


@dataclass(frozen=True, slots=True)
class UrlPattern:
    """``https://*.example.com``, ``https://example.com:*``, ``http://localhost:8080/api/**``."""

    text: str
    scheme: str  # "*" for any
    host: str  # "*" any, "*.suffix" subdomains, else exact
    port: int | None  # None + any_port False: the scheme's default port
    any_port: bool
    path: str | None  # in canonical form (unreserved escapes decoded)
    matcher: PathMatcher | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, pattern: str) -> UrlPattern:
        scheme, sep, rest = pattern.partition("://")
        if not sep:
            raise ValueError(f"URL pattern {pattern!r} needs a scheme, e.g. 'https://{pattern}'")
        scheme = scheme.lower()
        if scheme != "*" and not _SCHEME.match(scheme):
            raise ValueError(f"URL pattern {pattern!r}: bad scheme {scheme!r}")
        authority, slash, path_rest = rest.partition("/")
        path = _pattern_path("/" + path_rest) if slash else None
        if "@" in authority:
            raise ValueError(f"URL pattern {pattern!r}: user info is not allowed in a pattern")
        host_text, port_text = authority, ""
        if authority.startswith("["):
            end = authority.find("]")
            if end < 0:
                raise ValueError(f"URL pattern {pattern!r}: unclosed '['")
            host_text, port_text = authority[: end + 1], authority[end + 1 :]
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
        matcher = None
        if path is not None:
            try:
                matcher = PathMatcher(path)
            except (ValueError, re.error, PatternLimitException) as exc:
                raise ValueError(f"URL pattern {pattern!r}: bad path glob: {exc}") from None
        return cls(pattern, scheme, host, port, any_port, path, matcher)

    @staticmethod
    def _parse_host(pattern: str, text: str) -> str:
        if text == "*":
            return "*"
        wildcard = text.startswith("*.")
        core = text[2:] if wildcard else text
        if any(ch in core for ch in "*?{}") or (not core.startswith("[") and any(ch in core for ch in "[]")):
            raise ValueError(f"URL pattern {pattern!r}: only a leading '*.' wildcard is allowed in the host")
        try:
            parsed = parse_url(f"http://{core}/")
        except UnreadableUrl as exc:
            raise ValueError(f"URL pattern {pattern!r}: bad host {core!r}: {exc.reason}") from None
        if wildcard and parsed.ip is not None:
            raise ValueError(f"URL pattern {pattern!r}: '*.' needs a DNS name, not an address")
        return "*." + parsed.host if wildcard else parsed.host

    def matches(self, url: ParsedUrl) -> bool | None:
        """True or False; ``None`` when the path readings disagree (cannot tell)."""
        if self.scheme != "*" and url.scheme != self.scheme:
            return False
        if not self._host_matches(url.host):
            return False
        if not self.any_port:
            wanted = self.port if self.port is not None else DEFAULT_PORTS.get(url.scheme)
            if wanted is None or url.port != wanted:
                return False
        if self.matcher is None:
            return True
        return self.matcher.verdict(url.path)

    def _host_matches(self, host: str) -> bool:
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            suffix = self.host[1:]
            return host.endswith(suffix) and len(host) > len(suffix)
        return host == self.host
