"""Keep secrets out of the audit log, and make any value safe to serialise.

Both happen in one walk: the audit log must never crash on a value it was handed (it
falls back to ``str()``), and it must never write a key or password it can recognise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import date, datetime, time
from enum import Enum
from typing import Any

from structlog.typing import EventDict

from agentguard.audit._chain import RESERVED
from agentguard.detectors import is_sensitive_key, redact_text

__all__ = ["REDACTED", "redact", "redact_processor", "vouch"]

REDACTED = "[REDACTED]"
_MAX_DEPTH = 64
_INT64 = 2**63
_isfinite = math.isfinite


_secret_key = functools.lru_cache(maxsize=4096)(is_sensitive_key)  # field names repeat endlessly

_CACHED_TEXT_CHARS = 512
_CACHE_ENTRIES = 16384
# Agent, tool, call id, rule text and reason repeat on nearly every record: short strings are
# remembered with what redaction made of them. A plain dict, read inline on the hot path; it is
# emptied when full (cheaper than LRU bookkeeping, and a miss only costs one scan).
_seen: dict[str, str] = {}
_COLLECTIONS = (list, tuple, set, frozenset)  # isinstance with ``a | b`` builds a union per call
_BYTES = (bytes, bytearray)


def _text(value: str) -> str:
    out = _seen.get(value)
    if out is not None:
        return out
    out = _scan_text(value)
    if len(value) <= _CACHED_TEXT_CHARS:
        if len(_seen) >= _CACHE_ENTRIES:
            _seen.clear()
        _seen[value] = out
    return out


def vouch(text: str) -> str:
    """Remember ``text`` (returned as is) as holding nothing to redact. For ids this process drew
    from random bytes, like a call id: every record of the call repeats it, and scanning a fresh one
    (hex, so its decoded view is looked at too) was a fifth of an audited call's cost."""
    if len(_seen) >= _CACHE_ENTRIES:
        _seen.clear()
    _seen[text] = text
    return text


def _scan_text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return redact_text(value)


def _fallback(value: Any) -> str:
    try:
        return _text(str.__str__(value) if isinstance(value, str) else str(value))
    except Exception:  # noqa: BLE001 - str() of an arbitrary object may raise anything
        return f"<unprintable {type(value).__name__}>"


def redact(value: Any, _depth: int = 0) -> Any:
    """``value`` as plain JSON data with secrets removed.

    Mapping keys that name a secret (``password``, ``api_key``, ``x-auth-token``...) get their
    value replaced by ``[REDACTED]``; strings that contain a recognisable key or token get that
    part replaced by ``[REDACTED:kind]``. Anything that is not JSON data becomes ``str(value)``.
    """
    if type(value) is str:  # the common case first: most fields are plain strings
        return _seen.get(value) or _text(value)
    if value is None or value is True or value is False:
        return value
    # A subclass of str, int, float, dict or list is written as the data it holds, which is what
    # validation and the tool see, not as what its own __str__, __int__, items() or __iter__ say:
    # those could make the record show ``ls`` for a call that ran ``rm -rf /``.
    if isinstance(value, str):
        return _text(str.__str__(value))
    if isinstance(value, int):
        number = value if type(value) is int else int.__int__(value)
        return number if -_INT64 <= number < _INT64 else str(number)
    if isinstance(value, float):
        real = value if type(value) is float else float.__float__(value)
        return real if math.isfinite(real) else str(real)
    if _depth >= _MAX_DEPTH:
        return "<nested too deep>"
    if type(value) is dict or isinstance(value, Mapping):  # a dict without the ABC check
        out: dict[str, Any] = {}
        pairs = value.items() if type(value) is dict or not isinstance(value, dict) else dict.items(value)
        for k, v in pairs:
            key = (_seen.get(k) or _text(k)) if type(k) is str else _fallback(k)
            if _secret_key(key):
                out[key] = REDACTED
            elif type(v) is str:
                out[key] = _seen.get(v) or _text(v)
            elif v is None or v is True or v is False or (type(v) is int and -_INT64 <= v < _INT64):
                out[key] = v  # what redact() returns for it, without the call
            else:
                out[key] = redact(v, _depth + 1)
        return out
    if isinstance(value, _COLLECTIONS):
        items = value if type(value) in _COLLECTIONS else _items_of(value)
        return [redact(v, _depth + 1) for v in items]
    if isinstance(value, _BYTES):
        # decoded from the object's own data: bytes() would ask a subclass's __bytes__ what it holds
        if isinstance(value, bytes):
            return _text(bytes.decode(value, "utf-8", "replace"))
        return _text(bytearray.decode(value, "utf-8", "replace"))
    if isinstance(value, Enum):
        return redact(value.value, _depth + 1)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return redact(dump(mode="json"), _depth + 1)
        except Exception:  # noqa: BLE001 - a broken model still gets logged, as text
            return _fallback(value)
    if isinstance(value, BaseException):
        to_dict = getattr(value, "to_dict", None)
        if callable(to_dict):
            try:
                return redact(to_dict(), _depth + 1)
            except Exception:  # noqa: BLE001 - a broken error still gets logged, as text
                return _fallback(value)
        return {"type": type(value).__name__, "message": _fallback(value)}
    return _fallback(value)


def _items_of(value: Any) -> Any:
    """The elements a collection subclass holds, not what its own ``__iter__`` says it holds."""
    if isinstance(value, list):
        return list.__iter__(value)
    if isinstance(value, tuple):
        return tuple.__iter__(value)
    if isinstance(value, set):
        return set.__iter__(value)
    return frozenset.__iter__(value)


def redact_event(value: Any) -> str:
    """An event name as the log writes it: text, redacted like any string."""
    if type(value) is str:
        return _seen.get(value) or _text(value)
    return _text(value) if isinstance(value, str) else _fallback(value)


_PLAIN_KEY, _OWN_KEY, _SECRET_KEY, _ODD_KEY = 0, 1, 2, 3
# A record's field names, each classified once: the log's own bookkeeping key, a name that holds a
# secret, one that redaction changes (a token in it, a lone surrogate), or a plain one. The same few
# names come with every record; emptied when full, like _seen.
_key_kinds: dict[str, int] = {}


def _key_kind(key: str) -> int:
    kind = _key_kinds.get(key)
    if kind is None:
        if key in RESERVED:
            kind = _OWN_KEY
        elif type(key) is not str or _text(key) != key:
            kind = _ODD_KEY
        else:
            kind = _SECRET_KEY if _secret_key(key) else _PLAIN_KEY
        if len(_key_kinds) >= _CACHE_ENTRIES:
            _key_kinds.clear()
        _key_kinds[key] = kind
    return kind


def _rename_odd_keys(event_dict: EventDict, odd: list[Any]) -> None:
    """Field names redaction changes, renamed to what it makes of them (a suffix ``_`` where that
    name is taken), their values redacted: a name is text like any other, and one that is not valid
    UTF-8 could not be written at all (the writer's whole batch failed, and every one after it)."""
    for key in odd:
        value = event_dict.pop(key)
        name = _fallback(key) if type(key) is not str else _text(key)
        while name in RESERVED or name in event_dict:
            name += "_"
        event_dict[name] = REDACTED if _secret_key(name) or _secret_key(str(key)) else redact(value)


def redact_processor(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: :func:`redact` every field except the log's own bookkeeping keys."""
    kinds = _key_kinds
    seen = _seen
    odd: list[Any] | None = None
    for key, value in event_dict.items():
        try:
            kind = kinds[key]
        except KeyError:
            kind = _key_kind(key)
        if kind:
            if kind == _SECRET_KEY:
                event_dict[key] = REDACTED
            elif kind == _ODD_KEY:
                odd = [key] if odd is None else [*odd, key]
            elif key == "event":
                event_dict[key] = redact_event(value)
        elif type(value) is str:
            out = seen.get(value)
            if out is not value:  # most strings are remembered as themselves: nothing to store
                event_dict[key] = _text(value) if out is None else out
        elif (
            value is not None
            and value is not True
            and value is not False
            and (type(value) is not float or not _isfinite(value))  # a duration stays as it is
        ):
            event_dict[key] = redact(value)
    if odd is not None:
        _rename_odd_keys(event_dict, odd)
    return event_dict
