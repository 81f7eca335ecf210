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

import email.utils
import functools
import html
import math
import re
import unicodedata
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from agentguard.session._ibans import (
    _IBAN,
    _MAX_SEPARATOR,
    iban_at,
    iban_hint,
    iban_in,
    iban_key,
    iban_starts,
    loose_iban_key,
)
from agentguard.session._links import canonical_url, email_domain, host_name, host_of, links, url_keys
from agentguard.session._normal import (
    _EMAIL,
    _TOKEN_EDGE,
    _TRAILING_URL_PUNCT,
    MAX_KEY_CHARS,
    MIN_CONTAINED,
    _visible,
    key_of,
)

__all__ = [
    "MAX_KEY_CHARS",
    "MIN_CONTAINED",
    "Entity",
    "canonical_url",
    "decoded",
    "entities",
    "host_name",
    "host_of",
    "is_field_name",
    "key_of",
    "keys_of",
    "mailbox_key",
    "other_readings",
    "part_keys",
    "read_as_shown",
    "tokens",
    "url_keys",
]

# An object key that looks like a field name (``amount``, ``Content-Type``, ``line2``) names a field;
# any other key (``https://evil.example/x``, ``drop@evil.example``, an IBAN) is data, read as a value
# (in arguments by the provenance conditions, in results by the index).
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z_-]{0,63}[0-9]{0,3}")


@functools.lru_cache(maxsize=4096)
def is_field_name(key: str) -> bool:
    """Whether an object key names a field rather than carrying a value."""
    return _FIELD_NAME.fullmatch(key) is not None


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

    if "." in bare and not bare.isascii() and "@" not in bare:  # a bare host: exämple.com is its punycode
        host = host_name(bare)
        if host is not None:
            keys.add(host)
    if "@" in bare and not bare.isascii():  # exämple.com: its ASCII form; example。com: a dot
        dotted = bare.replace(_IDEOGRAPHIC_STOP, ".")
        if _EMAIL.fullmatch(dotted):
            local, _, domain = dotted.rpartition("@")
            keys.add(f"{local}@{email_domain(domain)}")
    if _IBAN.fullmatch(base):
        iban = iban_key(base)
        if iban is not None:
            keys.add(iban)
    elif bare[:1].isalpha() and len(bare) <= 34 * (1 + _MAX_SEPARATOR):
        iban = loose_iban_key(bare)
        if iban is not None:
            keys.add(iban)
    return frozenset(keys)


_IDEOGRAPHIC_STOP = "\u3002"
_ASCII_LOCAL_TAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+$")


def _email_keys(local: str, domain: str) -> tuple[str, ...]:
    """The address, and where its local part starts with other letters (CJK prose has no space
    before an address: 请发给drop@x), also the address its ASCII tail makes: the one most likely meant."""
    key = f"{local}@{domain}"
    if local.isascii():
        return (key,)
    tail = _ASCII_LOCAL_TAIL.search(local)
    return (
        (key, f"{tail.group().lstrip('.')}@{domain}")
        if tail is not None and tail.group().strip(".")
        else (key,)
    )


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


def entities(text: str, kinds: frozenset[str] = ALL_KINDS) -> tuple[Entity, ...]:
    """The URLs, e-mail addresses, IBANs (checksum-valid) and their hosts written in ``text``."""
    if len(text) <= MAX_KEY_CHARS:
        found = _entities_cached(text, ALL_KINDS)  # one analysis per text, whatever the kinds asked
        if kinds is ALL_KINDS or not found or kinds == ALL_KINDS:
            return found
        return tuple([e for e in found if e.kind in kinds])
    return _entities(text, kinds)


def _entities(text: str, kinds: frozenset[str]) -> tuple[Entity, ...]:
    found: list[Entity] = []
    cleaned = text if text.isascii() else _visible(unicodedata.normalize("NFKC", text))
    lowered = cleaned.lower()
    linked = ":" in lowered or "/" in lowered or "www." in lowered
    want_urls = ("url" in kinds or "host" in kinds) and linked
    want_emails = ("email" in kinds or "host" in kinds) and "@" in cleaned
    # Every IBAN starts with two letters and two digits: without that pair anywhere, skip both scans.
    want_ibans = "iban" in kinds and iban_hint(cleaned)
    if want_urls:
        for link in links(cleaned):
            raw, key, host = _link_reading(link) if len(link) <= MAX_KEY_CHARS else _read_link(link)
            if key is None:
                if "url" in kinds and "://" in raw:  # a scheme the guard does not read: still a link
                    found.append(Entity("url", raw, raw.lower()))
                continue
            if "url" in kinds:
                found.append(Entity("url", raw, key))
            if host and "host" in kinds:
                found.append(Entity("host", host, host))
    if want_emails:
        # U+3002 (what NFKC leaves of the ideographic full stops) is a dot in a domain to IDNA (UTS 46):
        # drop@example。com is drop@example.com; read both ways, as it may end a sentence instead
        readings = (
            (cleaned,)
            if _IDEOGRAPHIC_STOP not in cleaned
            else (cleaned, cleaned.replace(_IDEOGRAPHIC_STOP, "."))
        )
        keys: set[str] = set()
        for reading in readings:
            for m in _EMAIL.finditer(reading):
                local, _, written = m.group().rpartition("@")
                domain = email_domain(written)
                for key in _email_keys(local.lower(), domain):
                    if key in keys:
                        continue
                    keys.add(key)
                    if "email" in kinds:
                        found.append(Entity("email", m.group(), key))
                    if "host" in kinds and len(keys) == 1:
                        found.append(Entity("host", domain, domain))
    if want_ibans:
        seen: set[str] = set()
        for m in _IBAN.finditer(cleaned):
            iban = iban_in(m.group())
            if iban is not None:
                seen.add(iban[1])
                found.append(Entity("iban", *iban))
        for start in iban_starts(cleaned):  # a country, then check digits
            iban = iban_at(cleaned, start)
            if iban is not None and iban[1] not in seen:
                seen.add(iban[1])
                found.append(Entity("iban", *iban))
    return tuple(found)


def _read_link(link: str) -> tuple[str, str | None, str | None]:
    """(the link as read, its key, its host) of a link as ``links`` found it: a pure function of the
    link, cached for links of a key's length (the same links recur in a session's calls)."""
    raw = link.rstrip(_TRAILING_URL_PUNCT)
    if raw.startswith("//"):
        raw = "http:" + raw  # protocol-relative, as in an href
    elif ":" not in raw.split("/", 1)[0] and not raw.lower().startswith("www."):
        raw = "http://" + raw  # a link without a scheme is read as http://
    key = canonical_url(raw)
    return raw, key, host_of(raw) if key is not None else None


_link_reading = functools.lru_cache(maxsize=16_384)(_read_link)


_PART_KINDS = frozenset({"url", "email", "iban"})
_WHATWG_STRIPS = re.compile(r"[\t\n\r]")


def part_keys(text: str) -> tuple[str, ...]:
    """Keys of the URLs, e-mail addresses and IBANs written *inside* a value, as a tool acting on
    the value would read them: ``Bob <drop@evil.example>``, ``mailto:drop@...``, a list of
    recipients in one string, ``IBAN: GB29...``; also a quoted local part unquoted (``"drop"@x`` is
    ``drop@x``), a sub-address dropped (``drop+tag@x`` is delivered to ``drop@x``) and a URL with
    the tabs and line breaks a WHATWG parser strips removed, and addresses as an RFC 5322 parser
    reads them (comments and spaces around ``@`` dropped). Only ever used to find an *untrusted*
    part: these readings merge spellings, so they never make a value trusted."""
    return _part_keys(text) if len(text) <= MAX_KEY_CHARS else ()


@functools.lru_cache(maxsize=4096)
def _part_keys(text: str) -> tuple[str, ...]:
    readings = [text]
    if _WHATWG_STRIPS.search(text) is not None:
        readings.append(_WHATWG_STRIPS.sub("", text))
    keys: list[str] = []
    for reading in readings:
        for entity in entities(reading, _PART_KINDS):
            keys.append(entity.key)
            if entity.kind == "email":
                local, _, domain = entity.key.rpartition("@")
                bare = local.strip('"')
                if bare != local:
                    keys.append(f"{bare}@{domain}")
                if "+" in bare.strip("+"):
                    keys.append(f"{bare.split('+', 1)[0]}@{domain}")
    if "@" in text:
        keys.extend(_rfc5322_keys(text))
        keys.extend(box for box in map(mailbox_key, keys) if box is not None)
    return tuple(dict.fromkeys(keys))


_DOTLESS_MAIL = frozenset({"gmail.com", "googlemail.com"})


def mailbox_key(key: str) -> str | None:
    """The mailbox an address key is delivered to where the provider reads other spellings as one:
    Gmail ignores the dots of the local part and a sub-address, and googlemail.com is gmail.com
    (``m.a.r.k+x@googlemail.com`` is ``mark@gmail.com``). None when that is the key itself."""
    local, _, domain = key.rpartition("@")
    if domain not in _DOTLESS_MAIL:
        return None
    box = f"{local.strip(chr(34)).split('+', 1)[0].replace('.', '')}@gmail.com"
    return box if box != key else None


def _rfc5322_keys(text: str) -> Iterator[str]:
    """The addresses a mail library delivers to: comments and the white space around ``@`` and
    dots dropped (``drop (x) @ evil . example`` is ``drop@evil.example``), as
    ``email.utils.getaddresses`` (what ``smtplib.send_message`` reads ``To`` with) reads them."""
    try:
        found = email.utils.getaddresses([text])
    except (RecursionError, ValueError, IndexError):
        return  # it recurses per nested comment: a mail library fails on the same text
    for _name, address in found:
        if _EMAIL.fullmatch(address):
            local, _, domain = address.rpartition("@")
            local = local.lower().strip('"')
            yield f"{local}@{email_domain(domain)}"
            if "+" in local.strip("+"):  # a sub-address, as above
                yield f"{local.split('+', 1)[0]}@{email_domain(domain)}"


def decoded(text: str) -> str | None:
    """``text`` with percent-encoding and HTML character references undone, when that changes it:
    what a reader (a model, a browser) of a page or a link sees (``drop%40evil.example``)."""
    if "%" not in text and "&" not in text:
        return None
    plain = html.unescape(unquote(text)) if len(text) <= 20_000_000 else text
    return plain if plain != text else None


_entities_cached = functools.lru_cache(maxsize=4096)(_entities)

# A quoted attribute value without spaces (``href="..."``): a WHATWG parser strips the tabs and line
# breaks inside the URL it holds. Prose quotes have spaces, so they are left as they are.
_ATTRIBUTE = re.compile(r"\"[^\"<> ]*[\t\n\r][^\"<> ]*\"|'[^'<> ]*[\t\n\r][^'<> ]*'")


def read_as_shown(text: str) -> list[str]:
    """The other readings of a text the agent writes, as a browser or mail client shows and follows
    it: percent-encoding and character references undone (``drop&#64;evil.example``), and tabs and
    line breaks inside a quoted attribute value removed (``href="https://evil.exa&#9;mple"``).
    Empty when there are none. Links and addresses are looked for in these too."""
    if "%" not in text and "&" not in text and "\t" not in text and "\n" not in text and "\r" not in text:
        return []  # the common text: nothing encoded, no line breaks, so no other reading
    out: list[str] = []
    plain = decoded(text)
    for reading in (text,) if plain is None else (text, plain):
        if "\t" in reading or "\n" in reading or "\r" in reading:
            joined = _ATTRIBUTE.sub(lambda m: _WHATWG_STRIPS.sub("", m.group()), reading)
            if joined != reading:
                out.append(joined)
    if plain is not None:
        out.append(plain)
    return out


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
