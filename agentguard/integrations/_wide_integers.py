"""Integers an MCP server may read other than the policy did.

The proxy decides on Python's exact integer and forwards it as written, but a JavaScript server
(most MCP servers) reads every JSON number as a double: past 2**53 it acts on a neighbour, so
``eq(user, 9007199254740992), deny`` let ``9007199254740993`` by. Such integers are refused.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["wide_integer"]

_SAFE = 2**53
_LONG_DIGITS = re.compile(rb"\d{16}")  # 2**53 has 16 digits: a shorter run cannot be past it


def wide_integer(raw: bytes, data: Any) -> str | None:
    """The dotted path of an integer in ``data`` (whose JSON text is ``raw``) past +-2**53, else None."""
    if _LONG_DIGITS.search(raw) is None:  # every call: the walk only when some number could be wide
        return None
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        node, at = stack.pop()
        if isinstance(node, int) and not isinstance(node, bool):
            if abs(node) > _SAFE:
                return at or "(arguments)"
        elif isinstance(node, dict):
            stack.extend((v, f"{at}.{k}" if at else str(k)) for k, v in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((v, f"{at}.{n}" if at else str(n)) for n, v in enumerate(node))
    return None
