"""The small Protocols each pipeline stage is plugged in through.

call -> ``PolicyDecider.decide`` -> (``Approver.request``) -> tool / sandbox -> ``AuditSink.record``.
The guard depends on these shapes only, so stores and channels can be swapped.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from agentguard.models import ApprovalRequest, ApprovalResult, Decision, ToolCall

__all__ = ["Approver", "AuditSink", "PolicyDecider"]


@runtime_checkable
class PolicyDecider(Protocol):
    """Decides one call. Must not raise for a well-formed call; the guard fails closed if it does."""

    def decide(self, call: ToolCall) -> Decision: ...


@runtime_checkable
class Approver(Protocol):
    """Asks a person; blocks until an answer or ``request.timeout_s`` (async callers use a thread)."""

    def request(self, request: ApprovalRequest) -> ApprovalResult: ...


@runtime_checkable
class AuditSink(Protocol):
    """Appends one audit record. Must never drop a record silently: raise ``AuditError`` instead."""

    def record(self, event: str, /, **fields: Any) -> None: ...
