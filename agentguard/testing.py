"""Test doubles shipped with the package, for what is not ours to test (a person, an LLM).

Use these instead of patching import paths::

    from agentguard.testing import ScriptedApprover, MemoryAudit
    guard = Guard(policy_dir, approver=ScriptedApprover(["approve", "deny: not today"]), audit=MemoryAudit())
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from agentguard.approval.scripted import DenyApprover, ScriptedApprover

__all__ = ["DenyApprover", "FakeResolver", "MemoryAudit", "ScriptedApprover"]


class MemoryAudit:
    """An in-memory ``AuditSink``: keeps every record (no chain); ``events`` lists their names."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: list[dict[str, Any]] = []

    def record(self, event: str, /, **fields: Any) -> None:
        with self._lock:
            self.records.append({"seq": len(self.records), "event": event, **fields})

    @property
    def events(self) -> list[str]:
        return [r["event"] for r in self.records]

    def for_call(self, call_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("call_id") == call_id]

    def close(self) -> None:
        """Nothing to flush."""


class FakeResolver:
    """A ``Resolver`` over a fixed table, since DNS is not ours to test.

    ``FakeResolver({"a.test": ["10.0.0.1"]})``.

    A name not in the table does not resolve (``OSError``); ``lookups`` counts the questions asked.
    Assign to ``table`` to change an answer (a rebinding DNS server).
    """

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in table.items()}
        self.lookups: list[str] = []

    def resolve(self, host: str) -> Sequence[str]:
        self.lookups.append(host)
        try:
            return self.table[host]
        except KeyError:
            raise OSError(f"{host}: name does not resolve") from None
