"""How a request is summarised in one line, shared by the CLI table and the TUI queue."""

from __future__ import annotations

from agentguard.approval._records import KEY_ARGUMENTS
from agentguard.models import ToolCall

__all__ = ["key_argument_text", "short_duration"]


def key_argument_text(call: ToolCall, width: int = 60) -> str:
    """The argument that says most about the call (command, path, url, code...), on one line."""
    args = call.arguments
    value: object | None = None
    for key, _ in KEY_ARGUMENTS:
        if key in args:
            value = args[key]
            break
    if value is None and args:
        value = next(iter(args.values()))
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def short_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h10m``, ``4d``: compact, for ages and time left."""
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d"
