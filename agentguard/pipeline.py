"""The small Protocols each pipeline stage is plugged in through.

call -> ``PolicyDecider.decide`` -> (``Approver.request``) -> tool / sandbox -> ``AuditSink.record``.
The guard depends on these shapes only, so stores and channels can be swapped. The optional abilities
(``RefreshablePolicy``, ``AsyncApprover``, ``Closeable``) are Protocols too: the guard checks for them with
``isinstance``, so a misspelt method is a type error, not a silently skipped step.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from agentguard.models import ApprovalRequest, ApprovalResult, Decision, ToolCall

__all__ = [
    "Approver",
    "AsyncApprover",
    "AuditSink",
    "Closeable",
    "ListablePolicy",
    "PolicyDecider",
    "RefreshablePolicy",
]


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


@runtime_checkable
class RefreshablePolicy(Protocol):
    """A policy that can pick up changed files; the guard calls ``refresh_due`` before every decision."""

    def refresh(self) -> bool:
        """Reload if anything changed; True when something did."""
        ...

    def refresh_due(self) -> bool:
        """The cheap per-call form of ``refresh`` (may skip the check when it ran very recently)."""
        ...


@runtime_checkable
class ListablePolicy(Protocol):
    """A policy that can tell, without arguments, that a tool can never run (adapters hide such tools)."""

    def may_allow(self, agent: str, tool: str) -> bool:
        """False only when no call of ``tool`` by ``agent`` could be allowed or asked."""
        ...


@runtime_checkable
class AsyncApprover(Approver, Protocol):
    """An approver that can wait on the event loop; ``Guard.acall`` awaits it instead of using a thread."""

    async def arequest(self, request: ApprovalRequest) -> ApprovalResult: ...


@runtime_checkable
class Closeable(Protocol):
    """Something holding resources (an audit log's buffer, sandbox containers) until ``close``."""

    def close(self) -> None: ...
