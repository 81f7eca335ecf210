"""Schema defaults: the tool fills in a left-out argument's default, so the policy decides on it."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import orjson

from agentguard.integrations._declared import _accepts, _item_schema


def _defaults(root: Mapping[str, Any]) -> dict[str, Any]:
    """The ``default`` of each top-level property of ``root`` that names one."""
    properties = root.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    return {
        key: node["default"]
        for key, node in properties.items()
        if isinstance(node, Mapping) and "default" in node
    }


def _with_defaults(root: Mapping[str, Any], data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``data`` with each left-out property that has a schema ``default`` as that default.

    The server fills in a default the call leaves out (the Python SDK's servers, pydantic and zod
    all do), so the policy decides on it and it is forwarded: ``remove(path, recursive=True)`` sent
    without ``recursive`` runs recursively, and ``eq(recursive, "true"), deny`` must see that. A
    default its own schema refuses is left out (the tool's own affair); defaults that only break the
    schema together are refused with the call when its decided form is checked before it runs."""
    filled: Mapping[str, Any] = _filled(root, data, root, 0, deep=_nested_defaults(root))
    return filled


def _filled(root: Mapping[str, Any], value: Any, node: Any, depth: int, *, deep: bool) -> Any:
    """``value`` with the defaults of ``node``'s left-out properties, through nested objects, arrays,
    local ``$ref``s, ``allOf`` and the one ``anyOf``/``oneOf`` alternative that takes the value
    (``deep``: only when the schema has a default below its top level; walking a large value through
    alternatives costs a validation per item)."""
    if depth > 32 or not isinstance(node, Mapping) or not isinstance(value, Mapping | list):
        return value
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        value = _filled(root, value, target, depth + 1, deep=deep)
    all_of = node.get("allOf")
    for branch in all_of if isinstance(all_of, list) else ():
        value = _filled(root, value, branch, depth + 1, deep=deep)
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        kind = "object" if isinstance(value, Mapping) else "array"
        taking = [b for b in (branches if isinstance(branches, list) else ()) if _may_take(b, kind)]
        if len(taking) > 1:  # the value passed the schema: one alternative of its type is the one
            taking = [b for b in taking if _accepts(root, b, value)]
        if len(taking) == 1:
            value = _filled(root, value, taking[0], depth + 1, deep=deep)
    if isinstance(value, list):
        if not deep:
            return value
        items, prefix = node.get("items"), node.get("prefixItems")
        return [
            _filled(root, item, _item_schema(prefix, items, n), depth + 1, deep=deep)
            for n, item in enumerate(value)
        ]
    properties = node.get("properties")
    if not isinstance(properties, Mapping):
        return value
    given = {
        key: _filled(root, item, properties.get(key), depth + 1, deep=deep) if deep else item
        for key, item in value.items()
    }
    left_out = {  # a default its own schema refuses (``x: int = None``) is left out, the others kept
        key: copy.deepcopy(schema["default"])
        for key, schema in properties.items()
        if key not in value
        and isinstance(schema, Mapping)
        and "default" in schema
        and _default_ok(root, schema)
    }
    return {**given, **left_out}


_DEFAULTS_OK: dict[tuple[int, int], tuple[Mapping[str, Any], Mapping[str, Any], bool]] = {}


def _default_ok(root: Mapping[str, Any], schema: Mapping[str, Any]) -> bool:
    """Whether the property ``schema`` (a part of ``root``) takes its own ``default``; answered once."""
    found = _DEFAULTS_OK.get((id(root), id(schema)))
    if found is None or found[0] is not root or found[1] is not schema:  # ids are not reused meanwhile
        found = (root, schema, _accepts(root, schema, schema["default"]))
        if len(_DEFAULTS_OK) >= 1024:
            _DEFAULTS_OK.clear()
        _DEFAULTS_OK[(id(root), id(schema))] = found
    return found[2]


def _may_take(branch: Any, kind: str) -> bool:
    """Whether ``branch`` may take a value of JSON type ``kind`` (its ``type`` does not rule it out)."""
    if not isinstance(branch, Mapping):
        return False
    declared = branch.get("type")
    if isinstance(declared, str):
        return declared == kind
    return not isinstance(declared, list) or kind in declared


_DEEP: dict[int, tuple[Mapping[str, Any], bool]] = {}


def _nested_defaults(root: Mapping[str, Any]) -> bool:
    """Whether ``root`` may have a ``default`` below its top-level properties (a nested model's)."""
    found = _DEEP.get(id(root))
    if found is None or found[0] is not root:  # the entry holds its schema: an id is not reused
        properties = root.get("properties")
        top = sum(
            1
            for node in (properties.values() if isinstance(properties, Mapping) else ())
            if isinstance(node, Mapping) and "default" in node
        )
        found = (root, orjson.dumps(root).decode().count('"default":') > top)
        if len(_DEEP) >= 64:
            _DEEP.clear()
        _DEEP[id(root)] = found
    return found[1]
