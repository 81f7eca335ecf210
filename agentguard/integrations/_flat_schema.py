"""A tool schema whose declared-only form is a key filter: the common flat one, read once per schema.

Every call's arguments go through ``declared_only(root, _with_defaults(root, data))`` (``_declared``),
a walk over the schema in Python. For a schema of top-level properties whose own nodes name nothing
that walk reads (no ``$ref``, ``items``, ``prefixItems``, combinators, nested ``properties``, no
keyword that keeps undeclared keys) and with no ``default`` anywhere, the walk returns ``data``'s
declared keys with their values as they are (the same objects). ``flat_properties`` says so once per
schema; the caller then takes those keys with one comprehension. A differential test holds the two
to each other (``tests/integrations/test_flat_schema.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["COMBINATORS", "EXTRA_KEYWORDS", "flat_properties"]

EXTRA_KEYWORDS = ("additionalProperties", "patternProperties", "unevaluatedProperties")
COMBINATORS = ("anyOf", "oneOf", "allOf", "if", "dependentSchemas", "dependencies")

# what the walk reads in a property's node (``_is_decimal`` needs ``anyOf``, one of the combinators)
_NODE_KEYS = ("$ref", "items", "prefixItems", "properties", *EXTRA_KEYWORDS, *COMBINATORS)
_ROOT_KEYS = ("$ref", "items", "prefixItems", *COMBINATORS)


def flat_properties(root: Any) -> frozenset[str] | None:
    """The declared property names when ``declared_only(root, _with_defaults(root, data))`` is
    ``{k: v for k, v in data.items() if k in names}`` for every mapping ``data``; else None.

    Conservative: any ``"default"`` text in the schema (a property so named included) says None."""
    if not isinstance(root, Mapping):
        return None
    properties = root.get("properties")
    if not isinstance(properties, Mapping) or any(key in root for key in _ROOT_KEYS):
        return None
    if any(root.get(key, False) is not False for key in EXTRA_KEYWORDS):
        return None  # undeclared keys are kept (and read by the schema they name)
    try:
        if b'"default"' in orjson.dumps(root):
            return None
    except TypeError:  # not JSON: the walk decides
        return None
    for node in properties.values():
        if isinstance(node, Mapping) and any(key in node for key in _NODE_KEYS):
            return None
    names = tuple(properties)
    if not all(type(name) is str for name in names):
        return None
    return frozenset(names)
