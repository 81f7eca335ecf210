"""A tool's content in the form LangChain puts in the ``ToolMessage`` the model reads: text or a list of
content blocks as they are, anything else as LangChain prints it (``json.dumps``, else ``str``), so the
guard reads, marks and redacts exactly that text rather than its own reading of the object."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import langchain_core.tools.base as _base
from langchain_core.messages.tool import ToolOutputMixin

__all__ = ["shown_content"]

_BLOCKS = frozenset(
    getattr(_base, "TOOL_MESSAGE_BLOCK_TYPES", ("text", "image_url", "image", "json", "search_result"))
)


def _own_normalized(obj: Any) -> str | list[Any] | None:
    """Older langchain-core's rule, written out: text, or a sequence of text and content blocks."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, Sequence) and all(
        isinstance(e, str) or (isinstance(e, dict) and e.get("type") in _BLOCKS) for e in obj
    ):
        return list(obj)
    return None


def _own_printed(content: Any) -> str:
    try:
        return json.dumps(content, ensure_ascii=False)
    except Exception:  # noqa: BLE001 - LangChain prints what JSON cannot hold
        return str(content)


# LangChain's own conversion where this version has it, so the text is exactly its text.
_normalized: Callable[[Any], Any] = getattr(_base, "_normalize_message_content", None) or _own_normalized
_printed: Callable[[Any], str] = getattr(_base, "_stringify", None) or _own_printed


def shown_content(content: Any) -> Any:
    """``content`` as the model's ``ToolMessage`` holds it; a message or command the tool made itself
    (a ``ToolOutputMixin``) as it is (LangChain passes it on, the guard reads its fields)."""
    if type(content) is str:
        return content
    if isinstance(content, ToolOutputMixin) or (
        isinstance(content, list) and content and all(isinstance(i, ToolOutputMixin) for i in content)
    ):
        return content
    normalized = _normalized(content)
    return _printed(content) if normalized is None else normalized
