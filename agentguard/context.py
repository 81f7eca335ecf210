"""What a running tool may know about the call it serves.

Its own module so tools (``agentguard.tools``) can read the current call without importing the guard,
which imports them: the guard sets the context, tools only read it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from agentguard.models import Decision, ToolCall
from agentguard.settings import Settings

__all__ = ["CallContext", "ToolCaller", "current_call", "serving"]


class ToolCaller(Protocol):
    """What a running tool may use to make a follow-up call through the same pipeline (the guard)."""

    def call(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        agent: str | None = None,
        session: str | None = None,
        framework: str | None = None,
        invoke: Callable[..., Any] | None = None,
    ) -> Any: ...


@dataclass(frozen=True, slots=True)
class CallContext:
    """The call being executed: its decided arguments, the decision (e.g. the sandbox profile), settings."""

    call: ToolCall
    decision: Decision
    settings: Settings
    guard: ToolCaller | None = None  # the guard running the call: a tool's follow-up calls go through it


_CURRENT: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar("agentguard_call", default=None)
CALL_VAR = _CURRENT  # set and reset in place by the guard's execution bracket (``_guard.execute.running``)


def current_call() -> CallContext | None:
    """The call being executed in this context, or None outside a guarded call."""
    return _CURRENT.get()


@contextmanager
def serving(context: CallContext) -> Iterator[CallContext]:
    """Make ``context`` the current call inside the block (the guard's execution step)."""
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)
