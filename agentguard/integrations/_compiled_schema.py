"""A compiled JSON-schema check (jsonschema-rs) in front of the ``jsonschema`` package's, where both agree.

Checking a tool call's arguments with ``jsonschema`` costs tens of microseconds a call, most of what
an MCP call spends before its policy decision. jsonschema-rs answers the same question in about a
microsecond. It only answers "valid"; anything it refuses is checked again by ``jsonschema``, whose
messages the agent and the audit log get, and whose verdict stands. So the only way the two could
differ in effect is jsonschema-rs taking what ``jsonschema`` refuses; ``compiled`` is therefore
only offered for schemas built from keywords both read alike (a differential test pins that):

- no ``pattern``/``patternProperties``: Rust's regex dialect is not Python's (``$`` before a final
  newline, ``\\d`` and ``\\w`` over Unicode);
- no ``multipleOf`` (float division is done differently), no ``format`` checked (``jsonschema``
  checks none by default, and neither does this one), only local ``$ref``s, never a fetch;
- only plain JSON data (what ``orjson`` reads back equals what was sent): jsonschema-rs takes a
  tuple for an array, ``jsonschema`` does not.

Such a keyword anywhere in the schema keeps it on ``jsonschema`` alone (a property named ``if`` too;
one named ``pattern`` or ``id`` maps to a schema, not a string, and is fine); so does a schema
jsonschema-rs cannot build, a ``$schema`` other than the five drafts, a ``$ref`` that could lead back to
itself (a recursive schema: ``jsonschema`` never ends a cycle, jsonschema-rs calls it valid), or a
missing package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote

__all__ = ["compiled"]

# keywords read differently, or whose effect reaches past this schema: never offered
_UNSHARED = frozenset(
    {
        "patternProperties",
        "$vocabulary",
        "unevaluatedProperties",
        "unevaluatedItems",
        "contentSchema",
        "dependencies",
        "dependentSchemas",
        "dependentRequired",
        "if",
        "then",
        "else",
    }
)
# the same, where the keyword's value is not a schema (a property of that name maps to one)
_UNSHARED_VALUES = frozenset(
    {
        "pattern",
        "multipleOf",
        "divisibleBy",
        "id",
        "$id",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$recursiveRef",
        "$recursiveAnchor",
    }
)
_KNOWN_DRAFTS = frozenset(
    {
        "http://json-schema.org/draft-04/schema#",
        "http://json-schema.org/draft-06/schema#",
        "http://json-schema.org/draft-07/schema#",
        "https://json-schema.org/draft/2019-09/schema",
        "https://json-schema.org/draft/2020-12/schema",
    }
)
_MAX_DEPTH = 64


def _shared(node: Any, depth: int = 0) -> bool:
    """Whether every key anywhere in ``node`` is one both engines read alike (see the module doc)."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not isinstance(key, str) or key in _UNSHARED:
                return False
            if key in _UNSHARED_VALUES and not isinstance(value, Mapping):
                return False
            if key == "$ref" and not (isinstance(value, str) and value.startswith("#")):
                return False
            if key == "$schema" and (depth > 0 or value not in _KNOWN_DRAFTS):
                return False
            if not _shared(value, depth + 1):
                return False
        return True
    if isinstance(node, list):
        return all(_shared(item, depth + 1) for item in node)
    return isinstance(node, str | int | float | bool) or node is None


def _refs(node: Any, at: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Each ``$ref`` in ``node``: where it is (a JSON pointer's parts) and what it names."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref":
                yield at, value
            yield from _refs(value, (*at, str(key)))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _refs(item, (*at, str(index)))


def _no_ref_cycle(schema: Mapping[str, Any]) -> bool:
    """Whether no ``$ref`` can lead back to itself: each names a part holding no ``$ref`` and not
    around it. ``jsonschema`` recurses without end through a cycle (``{"$ref": "#"}``), where
    jsonschema-rs answers "valid"; recursive schemas are therefore left to ``jsonschema``."""
    for at, ref in _refs(schema):
        parts = tuple(unquote(p).replace("~1", "/").replace("~0", "~") for p in str(ref)[1:].split("/")[1:])
        if at[: len(parts)] == parts:
            return False
        node: Any = schema
        for part in parts:
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return False
        if next(_refs(node), None) is not None:
            return False
    return True


def compiled(schema: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    """jsonschema-rs's ``is_valid`` for ``schema``, or None where only ``jsonschema`` may answer.

    The caller passes plain JSON data only, and asks ``jsonschema`` whenever this says False."""
    if not _shared(schema) or not _no_ref_cycle(schema):
        return None
    try:
        import jsonschema_rs
        from jsonschema import validators  # type: ignore[import-untyped,unused-ignore]
        from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    try:  # a schema jsonschema refuses is refused on every call by whoever uses it: never offered
        validators.validator_for(schema).check_schema(dict(schema))
    except SchemaError:
        return None
    try:
        validator = jsonschema_rs.validator_for(dict(schema), validate_formats=False, offline=True)
    except Exception:  # noqa: BLE001 - a schema it cannot build: jsonschema alone answers
        return None
    is_valid = validator.is_valid

    def check(instance: Any) -> bool:
        try:
            return bool(is_valid(instance))
        except Exception:  # noqa: BLE001 - e.g. a lone surrogate it cannot encode: ask jsonschema
            return False

    return check
