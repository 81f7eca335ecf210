"""Where validating the decided (JSON) arguments again would change them.

The policy decides on a call's arguments validated once and dumped as JSON; the tool runs with that
JSON validated again. A validator that is not idempotent (``Json[...]`` parses text, a validator that
percent-decodes or strips a prefix) gives the tool a value the policy never saw: ``"sec%2572et"`` is
decided as ``"sec%72et"`` and runs as ``"secret"``. Such a call is refused instead.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["first_change"]


def first_change(decided: Any, again: Any, *, unshown: bool = False) -> str | None:
    """``_first_change`` with a C-speed answer for the common case: the same JSON text."""
    try:
        if orjson.dumps(decided) == orjson.dumps(again):
            return None
    except (TypeError, orjson.JSONEncodeError):  # not plain JSON: the walk compares it
        pass
    return _first_change(decided, again, "", unshown)


def _first_change(decided: Any, again: Any, at: str, unshown: bool) -> str | None:
    """The dotted path of the first place ``again`` differs from ``decided`` (JSON values compared
    with their types: ``1`` and ``True`` differ, ``1`` and ``1.0`` do not), else ``None``.
    ``unshown``: a key ``again`` lacks is no change (a field its dump leaves out, ``exclude=True``)."""
    if _number(decided) and _number(again):  # 5 and 5.0 are one JSON number (a float field's 5)
        return None if decided == again else at.rstrip(".") or "(arguments)"
    if type(decided) is not type(again):
        return at.rstrip(".") or "(arguments)"
    if isinstance(decided, dict):
        extra = [k for k in again if k not in decided]
        if not unshown:
            extra += [k for k in decided if k not in again]
        if extra:
            return f"{at}{extra[0]}"
        for key, value in decided.items():
            if key not in again:
                continue
            where = _first_change(value, again[key], f"{at}{key}.", unshown)
            if where is not None:
                return where
        return None
    if isinstance(decided, list):
        if len(decided) != len(again):
            return at.rstrip(".") or "(arguments)"
        for n, (value, other) in enumerate(zip(decided, again, strict=True)):
            where = _first_change(value, other, f"{at}{n}.", unshown)
            if where is not None:
                return where
        return None
    if decided != again:
        return at.rstrip(".") or "(arguments)"
    return None


def _number(value: Any) -> bool:
    return type(value) is int or type(value) is float
