"""Evidence: for the decisions made inside ``collecting_evidence()``, where each value came from.

Provenance conditions add a line per value they look at ("iban = 'GB29...' first appeared in the
untrusted output of bank.history, call 7f3a..."); nothing is built when no one is collecting.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["collecting", "collecting_evidence", "note"]

_EVIDENCE: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "agentguard_evidence", default=None
)
_MAX_LINES = 200


@contextmanager
def collecting_evidence() -> Iterator[list[str]]:
    """Collect evidence lines for the decisions made inside the block."""
    found: list[str] = []
    token = _EVIDENCE.set(found)
    try:
        yield found
    finally:
        _EVIDENCE.reset(token)


def collecting() -> bool:
    return _EVIDENCE.get() is not None


def note(make: Callable[[], str]) -> None:
    """Add ``make()`` to the evidence, if someone is collecting (``make`` is not called otherwise)."""
    found = _EVIDENCE.get()
    if found is not None and len(found) < _MAX_LINES:
        text = make()
        if text not in found:
            found.append(text)
