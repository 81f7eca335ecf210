"""Numbers a schema lets be written as text (the tool reads them as numbers): decided as those numbers."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from agentguard.registry import json_number


def _numbers_for_text(check_type: Callable[..., Any]) -> Callable[..., Any]:
    """The ``type`` keyword, where a duration or fraction string may also be the number it was decided
    as (see ``_read_number``): the decided form is checked again before the tool runs."""

    def check(validator: Any, types: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
        if _text_number(schema) is not None and _is_number(instance):
            return iter(())
        return check_type(validator, types, instance, schema)

    return check


_MARKED: dict[int, tuple[Mapping[str, Any], bool, bool]] = {}


def _holds_text_numbers(root: Mapping[str, Any], pydantic: bool) -> bool:
    """Whether ``root`` has a number written as text anywhere (only then are alternatives read)."""
    found = _MARKED.get(id(root))
    if found is None or found[0] is not root:  # the entry holds its schema: an id is not reused
        text = orjson.dumps(root).decode()
        found = (
            root,
            _DECIMAL_PATTERN in text,
            '"format":"duration"' in text or '"format":"fraction"' in text,
        )
        if len(_MARKED) >= 64:
            _MARKED.clear()
        _MARKED[id(root)] = found
    return found[1] or (pydantic and found[2])


# pydantic's JSON schema of a ``Decimal``: a number, or a string of this pattern. The tool (LangChain,
# the Agents SDK, a pydantic server) reads "5000" as the number 5000, but the policy's comparisons
# never match a string: gt(amount, 1000), deny would pass it. Such a string is decided, and forwarded,
# as the JSON number it spells (exactly, or the call is refused).
_DECIMAL_PATTERN = "^(?!^[-+.]*$)[+-]?0*"


def _is_decimal(node: Mapping[str, Any]) -> bool:
    branches = node.get("anyOf")
    if not isinstance(branches, list):
        return False
    kinds = [b.get("type") for b in branches if isinstance(b, Mapping)]
    decimal_text = any(
        isinstance(b, Mapping)
        and b.get("type") == "string"
        and str(b.get("pattern", "")).startswith(_DECIMAL_PATTERN)
        for b in branches
    )
    return decimal_text and "number" in kinds


def _decimal_number(text: str) -> Any:
    try:
        value = Decimal(text)
    except ArithmeticError:
        return text  # not a number: the tool's own schema check refuses it
    return json_number(value)


# pydantic's JSON schema of a ``timedelta``: a string of format ``duration``; of a ``Fraction``: format
# ``fraction``. A tool that reads its arguments with pydantic turns "PT2H" (or "02:00:00", "P1D") into a
# timedelta and "21/2" into a Fraction, and reads a number as seconds or as that number; the policy's
# comparisons never match the string: gt(duration, 60), deny would pass "PT2H". Such a string is
# decided, and passed on, as the number (exactly, or the call is refused).
_TEXT_NUMBERS: dict[str, TypeAdapter[Any]] = {
    "duration": TypeAdapter(timedelta),
    "fraction": TypeAdapter(Fraction),
}


def _text_number(node: Mapping[str, Any]) -> TypeAdapter[Any] | None:
    """How pydantic reads the string at ``node`` as a number, if it does."""
    if node.get("type") != "string":
        return None
    form = node.get("format")
    return _TEXT_NUMBERS.get(form) if isinstance(form, str) else None


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _read_number(text: str, adapter: TypeAdapter[Any] | None) -> Any:
    if adapter is None:
        return text
    try:
        value = adapter.validate_python(text)
    except ValidationError:
        return text  # not one pydantic reads: the tool's own check refuses it
    return json_number(value)
