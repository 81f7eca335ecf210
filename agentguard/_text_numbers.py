"""Numbers the JSON form spells as text: decided as the JSON numbers they are.

Split from ``registry``: the policy decides on a tool's JSON arguments, and pydantic spells a
``Decimal``, ``Fraction`` or ``timedelta`` there as text, which no comparison matches.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from pydantic import BaseModel

__all__ = [
    "Inexact",
    "json_number",
    "numbers_as_numbers",
    "numbers_in_json",
    "spells_numbers_as_text",
    "values_of",
]

# ------------------------------------------------------------- numbers the JSON form spells as text
#
# pydantic's JSON form of a ``Decimal`` is ``"5000"`` and of a ``timedelta`` ``"PT1H23M20S"``. The
# policy decides on the JSON form, and its comparisons (``gt``, ``lt``, ``between``, ``eq`` with a
# number) never match a string: ``gt(amount, 1000), deny`` would pass ``pay(amount: Decimal)`` 5000.
# So in the decided form such values are JSON numbers (a ``timedelta`` its seconds); the tool is
# called with them validated again, the same value. One no JSON number holds exactly is refused.

_TEXT_NUMBER_SCHEMAS = ("'type': 'decimal'", "'type': 'timedelta'", "fraction_validator")
_SPELLS: dict[type[BaseModel], bool] = {}


def spells_numbers_as_text(model: type[BaseModel]) -> bool:
    """Whether ``model`` (or a model nested in it) has a ``Decimal``, ``Fraction`` or ``timedelta``."""
    known = _SPELLS.get(model)
    if known is None:
        schema = str(getattr(model, "__pydantic_core_schema__", ""))
        known = _SPELLS[model] = any(kind in schema for kind in _TEXT_NUMBER_SCHEMAS)
    return known


class Inexact(ValueError):
    """A number no JSON number holds exactly: refused rather than decided on a rounding."""

    def __init__(self, value: Any, why: str) -> None:
        super().__init__(f"{value!s} {why}")
        self.value = value


def json_number(value: Decimal | Fraction | timedelta) -> int | float:
    """``value`` as the JSON number that holds it exactly (a ``timedelta`` in seconds); else ``Inexact``."""
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return int(value)
        try:
            number = float(value)
        except OverflowError:
            raise Inexact(value, "is too large for a JSON number; cannot decide on it") from None
        if Fraction(number) != value:
            raise Inexact(value, "has no exact JSON number (1/3 is not one); cannot decide on it")
        return number
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        if timedelta(seconds=seconds) != value:
            raise Inexact(value, "is not a whole number of microseconds as seconds; cannot decide on it")
        return int(seconds) if seconds.is_integer() else seconds
    if not value.is_finite():
        raise Inexact(value, "is not a finite number; cannot decide on it")
    if value == value.to_integral_value():
        return int(value)
    number = float(value)
    if Decimal(repr(number)) != value:
        raise Inexact(value, "has more digits than a JSON number holds exactly; cannot decide on it")
    return number


def values_of(value: Any) -> Any:
    """``value`` with each model as a dict of its fields' values (not their serialised forms: pydantic
    serialises a ``Fraction`` as text even in Python mode), keyed as the JSON dump keys them."""
    if isinstance(value, BaseModel):
        fields = {name: values_of(getattr(value, name)) for name in type(value).model_fields}
        fields.update({k: values_of(v) for k, v in (value.model_extra or {}).items()})
        return fields
    if isinstance(value, dict):
        return {k: values_of(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [values_of(v) for v in value]
    return value


def numbers_in_json(python: Any, dumped: Any) -> Any:
    """``dumped`` (the JSON form of ``python``, models included) with its ``Decimal``/``Fraction``/
    ``timedelta`` values as JSON numbers, as ``validate`` decides on them; ``Inexact`` if one has none."""
    return numbers_as_numbers(values_of(python), dumped)


def numbers_as_numbers(python: Any, dumped: Any) -> Any:
    """``dumped`` (the JSON form) with each ``Decimal``/``Fraction``/``timedelta`` of ``python`` (the
    same value dumped in Python mode, walked alongside) as a JSON number."""
    if isinstance(python, Decimal | Fraction | timedelta):
        return json_number(python) if isinstance(dumped, str) else dumped
    if isinstance(python, dict) and isinstance(dumped, dict):
        if len(python) == len(dumped):  # the same entries in the same order (keys may be JSON text)
            return {
                key: numbers_as_numbers(value, item)
                for value, (key, item) in zip(python.values(), dumped.items(), strict=True)
            }
        # a field left out of the dump (exclude=True), or one only the dump has (a computed field)
        return {key: numbers_as_numbers(python.get(key), item) for key, item in dumped.items()}
    if isinstance(python, list | tuple) and isinstance(dumped, list) and len(python) == len(dumped):
        return [numbers_as_numbers(value, item) for value, item in zip(python, dumped, strict=True)]
    if isinstance(python, set | frozenset) and any(
        isinstance(v, Decimal | Fraction | timedelta) for v in python
    ):
        if not all(isinstance(v, Decimal | Fraction | timedelta) for v in python):
            raise Inexact(python, "mixes numbers with other values in a set; cannot decide on it")
        return [json_number(v) for v in python]
    return dumped
