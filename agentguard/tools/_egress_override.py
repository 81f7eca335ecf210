"""``_method`` overrides: parameters that make a server run another method than the request line's.

Symfony and Laravel (``_method`` in the query or the body of a POST; Laravel also in JSON input),
Rails and Rack (``Rack::MethodOverride``: the form body, and Rack reads a POST without a
``Content-Type`` as a form), Express's ``method-override('_method')`` (the query) run ``POST
/items/1`` with ``_method=DELETE`` as ``DELETE``. The egress proxy decides the request line's
method, so a request that asks for another one is refused before any decision.

What is read over-approximates what any of those servers could see, never what one of them does:

* names as PHP registers them (up to a NUL, leading spaces dropped, ``.``, `` `` and ``[`` as
  ``_``, the array ``_method[]`` as ``_method``), in any case;
* the query, and the body read as a urlencoded form, pairs split on ``&`` and ``;``;
* the body also read as multipart parts (every ``name=`` in the header block of each
  ``Content-Disposition``, whatever the boundary, quoting, ``name*=`` or escapes) and as a JSON
  object's top-level keys, whatever the ``Content-Type`` says, or if it says nothing;
* the body as bytes (servers parse forms byte-wise) and decoded from each declared charset (UTF-7,
  UTF-16: a server that decodes first sees the decoded text);
* a value is an override unless it is the request's method (trimmed, in any case): an empty or
  unreadable one too. A body larger than ``BODY_LIMIT`` or compressed (``Content-Encoding``: an
  input filter could inflate it) cannot be read here, so it is refused.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote, unquote_plus

__all__ = ["BODY_LIMIT", "body_refusal", "query_overrides"]

BODY_LIMIT = 8 << 20  # a plain-HTTP request body the proxy holds to read before deciding
_PHP_NAME = str.maketrans({".": "_", " ": "_", "[": "_"})
_ASCII_LOWER = str.maketrans({chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)})
_BLANK_LINES = ("\r\n\r\n", "\n\n", "\r\n\n", "\n\r\n", "\r\r")
_PART_ENDS = ("\r\n--", "\n--", "\r--")


def is_override_name(name: str) -> bool:
    """Whether a parameter named ``name`` is read as ``_method`` by some server."""
    name = name.partition("\x00")[0].strip().casefold()
    if name.translate(_PHP_NAME) == "_method":
        return True
    bracket = name.find("[")  # PHP's array: _method[] and _method[x] are the array _method
    return bracket > 0 and name[:bracket].translate(_PHP_NAME) == "_method"


def _method_of(value: str) -> str:
    return value.strip().upper()


def _form_pairs(text: str) -> Iterator[tuple[str, str]]:
    for piece in text.replace(";", "&").split("&"):
        name, _, value = piece.partition("=")
        yield unquote_plus(name, encoding="latin-1"), unquote_plus(value, encoding="latin-1")


def query_overrides(query: str) -> set[str]:
    """The methods ``_method`` parameters of a query (or urlencoded form) ask for, upper-cased."""
    return {_method_of(value) for name, value in _form_pairs(query) if is_override_name(name)}


def _param_values(rest: str) -> Iterator[str]:
    """What a parameter's value starting ``rest`` can be read as: the quoted string (escapes
    removed), the bare token (quotes removed), each RFC 2231/5987 and percent-decoded too."""
    ends = [i for i in (rest.find(c) for c in ";\r\n \t") if i >= 0]
    readings = [rest[: min(ends)] if ends else rest]
    if rest.startswith('"'):
        quoted: list[str] = []
        escaped = False
        for ch in rest[1:]:
            if escaped:
                quoted.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch in '"\r\n':
                break
            else:
                quoted.append(ch)
        readings.append("".join(quoted))
    for reading in readings:
        for text in (reading.replace('"', ""), reading.replace('"', "").replace("\\", "")):
            yield text
            yield unquote(text, encoding="latin-1")
            if "''" in text:  # name*=utf-8''%5Fmethod
                yield unquote(text.split("''", 1)[1], encoding="latin-1")


def _names(block: str) -> Iterator[str]:
    """Every value a ``name=`` (or ``name*=``) anywhere in ``block`` can have: Rack takes the last
    ``name=`` of the line, wherever it is (inside a quoted ``filename``), others the first."""
    lowered = block.translate(_ASCII_LOWER)
    at = lowered.find("name")
    while at >= 0:
        rest = block[at + 4 :].removeprefix("*").lstrip(" \t")
        if rest.startswith("="):
            yield from _param_values(rest[1:].lstrip(" \t"))
        at = lowered.find("name", at + 1)


def _first(text: str, needles: Iterable[str], start: int) -> tuple[int, int]:
    """Where the first of ``needles`` in ``text`` from ``start`` begins and ends (``len`` if none)."""
    found = [(i, i + len(n)) for n in needles if (i := text.find(n, start)) >= 0]
    return min(found) if found else (len(text), len(text))


def _multipart_overrides(text: str) -> set[str]:
    found: set[str] = set()
    lowered = text.translate(_ASCII_LOWER)
    at = lowered.find("content-disposition")
    while at >= 0:
        block_end, value_start = _first(text, _BLANK_LINES, at)
        if any(is_override_name(name) for name in _names(text[at:block_end])):
            value_end, _ = _first(text, _PART_ENDS, value_start)
            found.add(_method_of(text[value_start:value_end]))
        at = lowered.find("content-disposition", at + 1)
    return found


class _Pairs(list[tuple[str, Any]]):
    """A JSON object's members in order, repeated keys kept."""


def _json_overrides(data: str | bytes) -> set[str]:
    try:
        top = json.loads(data, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return set()
    if not isinstance(top, _Pairs):
        return set()
    return {
        _method_of(value) if isinstance(value, str) else json.dumps(value)
        for name, value in top
        if is_override_name(name)
    }


def _charsets(content_types: Iterable[bytes]) -> set[str]:
    found: set[str] = set()
    for header in content_types:
        for param in header.decode("latin-1").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                found.add(value.strip().strip('"').lower())
    return found


def _readings(body: bytes, content_types: Iterable[bytes]) -> Iterator[str]:
    yield body.decode("latin-1")  # byte for byte
    for charset in _charsets(content_types):
        try:
            codecs.lookup(charset)
            yield body.decode(charset, errors="replace")
        except (LookupError, ValueError):
            continue  # a charset Python does not know: no server here decodes it either


def body_refusal(method: str, headers: Iterable[tuple[bytes, bytes]], body: bytes) -> str | None:
    """Why a request with this method, headers and body is refused, or ``None``: a ``_method`` of
    its body naming another method, or a body that cannot be read here."""
    if not body:
        return None
    headers = [(name.lower(), value) for name, value in headers]
    encodings = {value.strip().lower() for name, value in headers if name == b"content-encoding"}
    if encodings - {b"identity", b""}:
        named = sorted(e.decode("latin-1") for e in encodings)
        return f"a request body with Content-Encoding {named} cannot be read here, so it is refused"
    asked = _json_overrides(body)
    for text in _readings(body, [value for name, value in headers if name == b"content-type"]):
        asked |= query_overrides(text) | _multipart_overrides(text) | _json_overrides(text)
    other = asked - {method}
    if other:
        return f"a _method parameter in the request body asks the server for {sorted(other)}, not {method!r}"
    return None
