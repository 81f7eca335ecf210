"""What a tool's schema declares: the arguments as the tool reads them, undeclared keys dropped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from agentguard.integrations._flat_schema import COMBINATORS, EXTRA_KEYWORDS
from agentguard.integrations._schema_numbers import (
    _decimal_number,
    _holds_text_numbers,
    _is_decimal,
    _read_number,
    _text_number,
)
from agentguard.registry import Inexact

_EXTRA_KEYWORDS = EXTRA_KEYWORDS
_COMBINATORS = COMBINATORS


def declared_only(
    root: Mapping[str, Any],
    value: Any,
    node: Any = None,
    depth: int = 0,
    *,
    pydantic: bool = False,
    keep: bool = False,
) -> Any:
    """``value`` without the object keys ``root`` does not declare (see ``_arguments``' docstring).

    Walks ``properties``, array ``items`` and local ``$ref``s; below a node with combinators
    (``anyOf``/``oneOf``/``allOf``) nothing is dropped (``keep``): nothing to compare with.
    Decimal strings become the numbers they spell; with ``pydantic``, duration strings their seconds
    and fraction strings their numbers, also inside the alternatives a value matches.
    """
    node = root if node is None else node
    if depth > 32 or not isinstance(node, Mapping):
        return value
    if isinstance(value, str) and _is_decimal(node):
        return _decimal_number(value)
    if pydantic and isinstance(value, str) and _text_number(node) is not None:
        return _read_number(value, _text_number(node))
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        return declared_only(root, value, target, depth + 1, pydantic=pydantic, keep=keep)
    items = node.get("items")
    prefix = node.get("prefixItems")
    if isinstance(value, list) and (isinstance(items, Mapping) or isinstance(prefix, list)):
        # a tuple's places (prefixItems), then items for the rest
        return [
            declared_only(root, item, _item_schema(prefix, items, n), depth + 1, pydantic=pydantic, keep=keep)
            for n, item in enumerate(value)
        ]
    combined = any(key in node for key in _COMBINATORS)
    if combined and isinstance(value, Mapping | list) and _holds_text_numbers(root, pydantic):
        value = _through_alternatives(root, value, node, depth, pydantic)
    properties = node.get("properties")
    if (
        isinstance(value, Mapping)
        and not isinstance(properties, Mapping)
        and isinstance(node.get("additionalProperties"), Mapping)
    ):
        properties = {}  # a mapping of any keys (dict[str, Decimal]): its values are still read
    if not isinstance(value, Mapping) or not isinstance(properties, Mapping):
        return value
    keep = keep or combined
    keep_extra = keep or any(node.get(key, False) is not False for key in _EXTRA_KEYWORDS)
    extra = node.get("additionalProperties")  # a dict[str, Decimal]: each value read by this schema
    return {  # a schema that is not a mapping (true, absent) leaves the value as it is
        key: declared_only(root, item, properties.get(key, extra), depth + 1, pydantic=pydantic, keep=keep)
        for key, item in value.items()
        if key in properties or keep_extra
    }


def _item_schema(prefix: Any, items: Any, n: int) -> Any:
    if isinstance(prefix, list) and n < len(prefix):
        return prefix[n]
    return items if isinstance(items, Mapping) else None


def _through_alternatives(
    root: Mapping[str, Any], value: Any, node: Mapping[str, Any], depth: int, pydantic: bool
) -> Any:
    """``value`` with the numbers written as text converted as the alternatives that accept it read
    them (a union of models: ``{"amount": "5000"}`` for a payment that is a card or a transfer).
    Alternatives that read it differently cannot be told apart from here: the call is refused."""
    for branch in node.get("allOf") or ():
        value = declared_only(root, value, branch, depth + 1, pydantic=pydantic, keep=True)
    readings: dict[bytes, Any] = {}
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        for branch in branches if isinstance(branches, list) else ():
            if isinstance(branch, Mapping) and _accepts(root, branch, value):
                read = declared_only(root, value, branch, depth + 1, pydantic=pydantic, keep=True)
                readings[orjson.dumps(read, option=orjson.OPT_SORT_KEYS)] = read
    if len(readings) > 1:
        raise Inexact(value, "is read differently by the schema's alternatives; cannot decide on it")
    return next(iter(readings.values()), value)


_BRANCHES: dict[tuple[int, int], tuple[Mapping[str, Any], Mapping[str, Any], Any]] = {}


def _accepts(root: Mapping[str, Any], branch: Mapping[str, Any], value: Any) -> bool:
    """Whether ``branch`` (a part of ``root``) takes ``value``; its validator is built once."""
    found = _BRANCHES.get((id(root), id(branch)))
    if found is None or found[0] is not root or found[1] is not branch:  # ids are not reused meanwhile
        from jsonschema import validators  # type: ignore[import-untyped,unused-ignore]

        schema = dict(branch)
        for key in ("$defs", "definitions"):  # the local $refs of the branch point into the root
            if key in root and key not in schema:
                schema[key] = root[key]
        found = (root, branch, validators.validator_for(root)(schema))
        if len(_BRANCHES) >= 1024:
            _BRANCHES.clear()
        _BRANCHES[(id(root), id(branch))] = found
    return bool(found[2].is_valid(value))
