"""How values are compared for provenance: one normal form, and the entities found inside text.

Two spellings of a value share a *key* when they differ only in ways that do not change what the
value means to a tool: letter case, Unicode compatibility forms and invisible format characters,
runs of whitespace, the spaces inside an IBAN, and the URL spelling a WHATWG parser reads the same
way (``HTTPS://Evil.COM:443/a/../b`` is ``https://evil.com/b``). Keys are what the session index
stores and what conditions look up; neither side ever compares raw strings.

What keys cannot see: a value the model *transformed* (translated, summarised, re-encoded,
split into pieces and joined by the tool, or rebuilt digit by digit) no longer shares a key with
its source. Provenance answers "this value was seen there", never "this value was not derived
from there"; rules that matter treat a value of unknown provenance as untrusted.
"""

from __future__ import annotations

import functools
import html
import math
import re
import unicodedata
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import ada_url
from stdnum import iban as _stdnum_iban
from stdnum import numdb

__all__ = [
    "MIN_CONTAINED",
    "Entity",
    "decoded",
    "entities",
    "host_name",
    "host_of",
    "is_field_name",
    "key_of",
    "keys_of",
    "other_readings",
    "tokens",
    "url_keys",
]

# Leaf values at least this long (after normalising) are also found *inside* a longer text
# argument; shorter ones ("ok", "2024") would match almost any text.
MIN_CONTAINED = 12
MAX_KEY_CHARS = 4096

_SPACE = re.compile(r"\s+")
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
    starts: set[int] = set()
    at = text.find(":")
    while at >= 0:
        starts.update(range(max(0, at - 5), at - 1))
        at = text.find(":", at + 1)
    lowered = text.lower()
    at = lowered.find("www.")
    while at >= 0:
        starts.add(at)
        at = lowered.find("www.", at + 1)
    found: list[str] = []
    end = 0
    for start in sorted(starts):
        if start >= end:
            m = _URL.match(text, start)
            if m is not None:
                found.append(m.group())
                end = m.end()
    return found


def _links(text: str) -> Iterator[str]:
    """Every link written in ``text``, as written."""
    web = _web_links(text)
    yield from web
    if text.count("://") > sum("://" in link for link in web):
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
    if text.count("/") > sum(link.count("/") for link in web):  # a slash outside the links found
        for word in text.split():
            if "/" in word and "." in word and "://" not in word:
                for m in _SCHEMELESS.finditer(word):
                    yield m.group()


_WEB_SCHEME = re.compile(r"(?i)(?:https?|ftp|wss?):")
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
# Addresses as mail servers deliver them: internationalised local parts and domains, quoted local
# parts, address literals (``bob@[192.0.2.1]``).
_EMAIL = re.compile(
    r"(?i)(?<![\w.%+-])(?:\"[^\"\s@]{1,64}\"|[\w.%+-]{1,64})@"
    r"(?:(?:" + _LABEL + r"\.)+[^\W\d_]{2,63}(?![\w-])|\[[0-9a-f:.]{2,45}\])"
)
_HOST_NAME = re.compile(r"(?:" + _LABEL + r"\.)*" + _LABEL)
# An IBAN as people write it: letters and digits in groups of up to four, single spaces allowed.
_IBAN = re.compile(r"(?i)\b[a-z]{2}\d{2}(?:[ -]?[a-z0-9]){11,30}\b")
_TOKEN_EDGE = ".,;:!?\"'`()[]{}<>*_~"  # noqa: S105 - punctuation, not a password
_TRAILING_URL_PUNCT = ".,;:!?'\")]}>"


# An object key that looks like a field name (``amount``, ``Content-Type``, ``line2``) names a field;
# any other key (``https://evil.example/x``, ``drop@evil.example``, an IBAN) is data, read as a value
# (in arguments by the provenance conditions, in results by the index).
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z_-]{0,63}[0-9]{0,3}")


@functools.lru_cache(maxsize=4096)
def is_field_name(key: str) -> bool:
    """Whether an object key names a field rather than carrying a value."""
    return _FIELD_NAME.fullmatch(key) is not None


# Invisible code points that are not format characters (Cf): variation selectors, the combining
# grapheme joiner, Hangul and Khmer fillers, Mongolian selectors (Unicode's default-ignorables).
_IGNORABLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u180f\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)


def _is_format_char(ch: str) -> bool:
    """Invisible: a format character (zero-width, joiners, bidi marks, soft hyphen) or another
    default-ignorable code point (variation selectors, Hangul fillers)."""
    return ch in _IGNORABLE or unicodedata.category(ch) == "Cf"


def _clean(text: str) -> str:
    """NFKC, no invisible format characters (zero-width spaces, joiners, bidi marks), lower-cased.

    Lowered, not case-folded: folding merges ``ß`` with ``ss`` and ``ς`` with ``σ``, which tools keep
    apart (IDNA2008 domains), so a look-alike would share the key of the value the user wrote.
    """
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = "".join(ch for ch in text if not _is_format_char(ch))
    return text.lower()


def _visible(text: str) -> str:
    """``text`` without invisible format characters: ``drop@evil\u200b.example`` is ``drop@evil.example``."""
    return "".join(ch for ch in text if not _is_format_char(ch))


def key_of(text: str) -> str:
    """The normal form of a text value: cleaned, whitespace runs as one space, trimmed."""
    if text.isascii() and text.isprintable() and "  " not in text:
        # NFKC keeps printable ASCII as it is, and its only white space is single spaces
        return text.lower().strip()
    return _SPACE.sub(" ", _clean(text)).strip()


_NUMERIC = re.compile(r"[$€£¥]?([+-]?(?:\d{1,3}(?:[,']\d{3})+|\d+)(?:\.\d+)?)(?:[$€£¥]|eur|usd|chf|gbp)?")


def numeric_key(text: str) -> str | None:
    """The number key of a numeric string: ``"$1,200.50"``, ``"1200.5"`` and ``1200.5`` share one."""
    m = _NUMERIC.fullmatch(text)
    if m is None:
        return None
    try:
        number = float(m.group(1).replace(",", "").replace("'", ""))
    except ValueError:
        return None
    return _number_key(number) if math.isfinite(number) else None


# A number grouped with spaces or dots, maybe with a decimal comma: "1 000 000", "1.000.000,00".
_GROUPED = re.compile(r"(?<![\d.,])\d{1,3}([ .])\d{3}(?:\1\d{3})*(?:,\d{1,2})?(?!\d)")


def other_readings(text: str) -> Iterator[str]:
    """Number keys of the amounts in ``text`` read the European or spaced way ("1.000.000,00" is a
    million). Ambiguous, so only ever indexed from untrusted text: they never make a value trusted."""
    for m in _GROUPED.finditer(text):
        number = float(m.group().replace(m.group(1), "").replace(",", "."))
        yield _number_key(number)


def _number_key(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


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
    if parts.path == "/" and not parts.query and href.endswith("/"):
        href = href[:-1]
    return _clean(href), host.lower()


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


def canonical_url(text: str) -> str | None:
    """A URL's key: the WHATWG parse, without fragment or a bare trailing ``/``, lower-cased."""
    raw = text.strip().rstrip(_TRAILING_URL_PUNCT)
    if not raw or len(raw) > MAX_KEY_CHARS or _SPACE.search(raw) is not None:
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


def host_of(text: str) -> str | None:
    """The host of a URL or the domain of an e-mail address, lowercased without a trailing dot."""
    raw = text.strip()
    if "@" in raw and "://" not in raw:
        m = _EMAIL.fullmatch(raw)
        return m.group().rsplit("@", 1)[1].lower() if m else None
    if "://" not in raw and not raw.lower().startswith("www.") and not _WEB_SCHEME.match(raw):
        return None
    if len(raw) > MAX_KEY_CHARS:
        return None
    parts = _url_parts(raw)
    return parts[1] if parts is not None else None


def _iban_key(text: str) -> str | None:
    compact = re.sub(r"[ -]", "", text)
    if 15 <= len(compact) <= 34 and compact[:2].isalpha() and compact[2:4].isdigit() and compact.isalnum():
        return compact.lower()
    return None


def _iban_lengths() -> dict[str, int]:
    """Each IBAN country's length, from python-stdnum's registry (``GB``: 22)."""
    lengths: dict[str, int] = {}
    for _length, low, high, props, _children in numdb.get("iban").prefixes:
        if low == high and "bban" in props:
            size = sum(int(n) for n in re.findall(r"(\d+)!", props["bban"]))
            lengths[low.upper()] = 4 + size
    return lengths


_IBAN_LENGTHS = _iban_lengths()
_IBAN_START = re.compile(r"[A-Za-z]{2}\d{2}")
_MAX_SEPARATOR = 3  # characters between two characters of an IBAN: "GB29 - NWBK", a line break


def _iban_at(text: str, start: int) -> tuple[str, str] | None:
    """(as written, key) of a valid IBAN starting at ``start``, whatever separates its characters.

    The country fixes the length, and python-stdnum checks the format and the checksum, so a run of
    words is not read into an IBAN by chance; separators are up to three characters of anything that
    is not an ASCII letter or digit (spaces, dots, slashes, line breaks, underscores).
    """
    length = _IBAN_LENGTHS.get(text[start : start + 2].upper())
    if length is None:
        return None
    chars: list[str] = []
    pos = start
    gap = 0
    end = start
    while pos < len(text) and len(chars) < length:
        ch = text[pos]
        if ch.isascii() and ch.isalnum():
            chars.append(ch)
            gap = 0
            end = pos + 1
        else:
            gap += 1
            if gap > _MAX_SEPARATOR:
                break
        pos += 1
    if len(chars) != length:
        return None
    compact = "".join(chars).upper()
    if not _stdnum_iban.is_valid(compact, check_country=False):
        return None
    return text[start:end], compact.lower()


def _loose_iban_key(text: str) -> str | None:
    """The key of a text that is one IBAN written with any separators (``GB29.NWBK.6016...``)."""
    found = _iban_at(text, 0) if _IBAN_START.match(text) else None
    return found[1] if found is not None and len(found[0]) == len(text) else None


def keys_of(value: Any) -> frozenset[str]:
    """Every key a scalar argument value is known by (empty for values that are not scalars)."""
    if type(value) is str:  # the common case first
        return _text_keys(value) if len(value) <= MAX_KEY_CHARS else frozenset()
    if isinstance(value, bool) or value is None:
        return frozenset()
    if isinstance(value, int | float):
        return (
            frozenset()
            if isinstance(value, float) and not math.isfinite(value)
            else frozenset({_number_key(value)})
        )
    if not isinstance(value, str) or len(value) > MAX_KEY_CHARS:
        return frozenset()
    return _text_keys(value)


@functools.lru_cache(maxsize=16_384)
def _text_keys(value: str) -> frozenset[str]:
    base = key_of(value)
    if not base:
        return frozenset()
    keys = {base}
    bare = base.strip(_TOKEN_EDGE)  # "bob@example.com." in prose is the address
    if bare and bare != base:
        keys.add(bare)
    number = numeric_key(bare) if bare[:1].isdigit() or bare[:1] in "$€£¥+-" else None
    if number is not None:
        keys.add(number)
    if ("." in base or ":" in base) and " " not in base:
        keys.update(url_keys(value))
    if _IBAN.fullmatch(base):
        iban = _iban_key(base)
        if iban is not None:
            keys.add(iban)
    elif bare[:1].isalpha() and len(bare) <= 34 * (1 + _MAX_SEPARATOR):
        iban = _loose_iban_key(bare)
        if iban is not None:
            keys.add(iban)
    return frozenset(keys)


class Entity:
    """A value found inside text: a URL, an e-mail address, an IBAN or a host, with its key."""

    __slots__ = ("key", "kind", "text")

    def __init__(self, kind: str, text: str, key: str) -> None:
        self.kind = kind
        self.text = text
        self.key = key

    def __repr__(self) -> str:
        return f"Entity({self.kind}, {self.text!r})"


ALL_KINDS = frozenset({"url", "email", "iban", "host"})
_DIGIT_PAIR = re.compile(r"\d\d")
_IBAN_HINT = re.compile(r"(?i)[a-z]{2}\d\d")  # what both IBAN scans below need at their start
_TWO_LETTERS = re.compile(r"(?i)[a-z]{2}")


def _iban_hint(text: str) -> bool:
    """``_IBAN_HINT.search(text)``, found from the digit pairs: prose has few digits and many
    letters, and a case-insensitive class makes sre try every letter. Pairs do not overlap, but
    the pair right after two letters cannot be cut, since a letter precedes its first digit."""
    return any(_TWO_LETTERS.match(text, m.start() - 2) for m in _DIGIT_PAIR.finditer(text, 2))


def entities(text: str, kinds: frozenset[str] = ALL_KINDS) -> tuple[Entity, ...]:
    """The URLs, e-mail addresses, IBANs (checksum-valid) and their hosts written in ``text``."""
    if len(text) <= MAX_KEY_CHARS:
        found = _entities_cached(text, ALL_KINDS)  # one analysis per text, whatever the kinds asked
        return found if kinds == ALL_KINDS else tuple(e for e in found if e.kind in kinds)
    return _entities(text, kinds)


def _entities(text: str, kinds: frozenset[str]) -> tuple[Entity, ...]:
    found: list[Entity] = []
    cleaned = text if text.isascii() else _visible(unicodedata.normalize("NFKC", text))
    lowered = cleaned.lower()
    linked = ":" in lowered or "/" in lowered or "www." in lowered
    want_urls = ("url" in kinds or "host" in kinds) and linked
    want_emails = ("email" in kinds or "host" in kinds) and "@" in cleaned
    # Every IBAN starts with two letters and two digits: without that pair anywhere, skip both scans.
    want_ibans = "iban" in kinds and _iban_hint(cleaned)
    if want_urls:
        for link in _links(cleaned):
            raw = link.rstrip(_TRAILING_URL_PUNCT)
            if raw.startswith("//"):
                raw = "http:" + raw  # protocol-relative, as in an href
            elif ":" not in raw.split("/", 1)[0] and not raw.lower().startswith("www."):
                raw = "http://" + raw  # a link without a scheme is read as http://
            key = canonical_url(raw)
            if key is None:
                if "url" in kinds and "://" in raw:  # a scheme the guard does not read: still a link
                    found.append(Entity("url", raw, raw.lower()))
                continue
            if "url" in kinds:
                found.append(Entity("url", raw, key))
            host = host_of(raw)
            if host and "host" in kinds:
                found.append(Entity("host", host, host))
    if want_emails:
        for m in _EMAIL.finditer(cleaned):
            if "email" in kinds:
                found.append(Entity("email", m.group(), m.group().lower()))
            if "host" in kinds:
                domain = m.group().rsplit("@", 1)[1].lower()
                found.append(Entity("host", domain, domain))
    if want_ibans:
        seen: set[str] = set()
        for m in _IBAN.finditer(cleaned):
            iban = _iban_in(m.group())
            if iban is not None:
                seen.add(iban[1])
                found.append(Entity("iban", *iban))
        for m in _DIGIT_PAIR.finditer(cleaned, 2):  # an IBAN's check digits, after its country
            start = m.start() - 2
            if not (cleaned[start].isascii() and cleaned[start : start + 2].isalpha()):
                continue
            iban = _iban_at(cleaned, start)
            if iban is not None and iban[1] not in seen:
                seen.add(iban[1])
                found.append(Entity("iban", *iban))
    return tuple(found)


def decoded(text: str) -> str | None:
    """``text`` with percent-encoding and HTML character references undone, when that changes it:
    what a reader (a model, a browser) of a page or a link sees (``drop%40evil.example``)."""
    if "%" not in text and "&" not in text:
        return None
    plain = html.unescape(unquote(text)) if len(text) <= 20_000_000 else text
    return plain if plain != text else None


_entities_cached = functools.lru_cache(maxsize=4096)(_entities)


def _iban_in(candidate: str) -> tuple[str, str] | None:
    """The longest checksum-valid IBAN at the start of a greedy match ("DE89 3704 ... 00 thanks")."""
    cuts = [len(candidate), *[m.start() for m in re.finditer(r"[ -]", candidate)][::-1]]
    for end in cuts:
        text = candidate[:end]
        key = _iban_key(text)
        if key is not None and _iban_checksum(key):
            return text, key
    return None


def _iban_checksum(key: str) -> bool:
    s = key.upper()
    try:
        number = int("".join(str(int(c, 36)) for c in s[4:] + s[:4]))
    except ValueError:
        return False
    return number % 97 == 1


def tokens(key: str) -> Iterator[str]:
    """The words of a normalised text, stripped of surrounding punctuation (3 characters or more)."""
    for word in key.split(" "):
        word = word.strip(_TOKEN_EDGE)
        if word[:1].isdigit() or word[:1] in "$€£¥+-":
            number = numeric_key(word)
            if number is not None:
                yield number  # amounts: "1,200.50" in a sentence is the number 1200.5
        if len(word) >= 3:
            yield word
