"""What a running tool may know about the call it serves.

Its own module so tools (``agentguard.tools``) can read the current call without importing the guard,
which imports them: the guard sets the context, tools only read it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from agentguard.models import Decision, ToolCall
from agentguard.settings import Settings

__all__ = ["CallContext", "current_call", "serving"]


@dataclass(frozen=True, slots=True)
class CallContext:
    """The call being executed: its decided arguments, the decision (e.g. the sandbox profile), settings."""

    call: ToolCall
    decision: Decision
    settings: Settings


_CURRENT: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar("agentguard_call", default=None)


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
