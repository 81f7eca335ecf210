"""What the approval store holds: queued requests, answers and grants."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypeAlias

from agentguard.models import ApprovalRequest, ApprovalResult, ApprovalStatus, FrozenModel, ToolCall
from agentguard.owner import Owner

__all__ = [
    "KEY_ARGUMENTS",
    "Answer",
    "Grant",
    "GrantScope",
    "QueuedRequest",
    "RequestState",
    "request_ref",
    "split_ref",
]

# The arguments that say most about a call, most telling first, with the matcher a pattern grant uses
# on them (``None``: shown in the queue, never a pattern's subject). One list for the CLI table, the
# TUI and grants.
KEY_ARGUMENTS: tuple[tuple[str, str | None], ...] = (
    ("command", "cmd"),
    ("cmd", "cmd"),
    ("path", "path"),
    ("file", "path"),
    ("filename", "path"),
    ("file_path", "path"),
    ("directory", "path"),
    ("dir", "path"),
    ("url", "url"),
    ("uri", "url"),
    ("code", None),
    ("query", None),
    ("pattern", None),
)


# One state enum and one answer type for the whole approval path: the queue's names for them.
RequestState: TypeAlias = ApprovalStatus
Answer: TypeAlias = ApprovalResult


class GrantScope(StrEnum):
    """How far an "approve always" reaches."""

    CALL = "call"  # this exact call: every argument equal
    PATTERN = "pattern"  # this tool, key argument matching a pattern the approver chose
    TOOL = "tool"  # the whole tool, for this agent


class Grant(FrozenModel):
    """A standing "approve always", enforced as a policy rule read from the approval store."""

    id: str
    agent: str
    tool: str
    scope: GrantScope
    condition: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None = None
    request_id: str | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    # The database role of the agent host it applies on (PostgreSQL); None: every host.
    host_role: str | None = None

    def active(self, now: datetime) -> bool:
        """Neither revoked nor expired at ``now`` (the caller's clock: the store's, the TUI's)."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def state(self, now: datetime) -> str:
        """``active``, ``expired`` or ``revoked`` at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def request_ref(call_id: str, db_role: str | None) -> str:
    """How a store names one request: its call id, qualified by the database role that submitted it
    (``id@role``) where the store knows one. Ids are unique per host role on PostgreSQL, not across
    hosts (a host can file a request under any call id it reads in the audit trail), so the id alone
    may name two requests; SQLite has one host, and its refs are the bare ids."""
    return call_id if db_role is None else f"{call_id}@{db_role}"


def split_ref(ref: str) -> tuple[str, str | None, bool]:
    """``(id, role, qualified)`` of a ref: ``id`` (unqualified: any role), ``id@role``, or ``id@``
    (a request with no verified role, from before host identities)."""
    call_id, at, role = ref.partition("@")
    return call_id, (role or None), bool(at)


class QueuedRequest(FrozenModel):
    """One request in the queue, with its answer once it has one."""

    id: str
    request: ApprovalRequest
    state: RequestState
    owner: Owner
    submitted_at: datetime
    deadline: datetime
    approver: str | None = None
    channel: str | None = None
    reason: str | None = None
    edited_arguments: dict[str, Any] | None = None
    scope: str | None = None
    grant_id: str | None = None
    resolved_at: datetime | None = None
    # The database login role that submitted it (PostgreSQL: set and checked by the database, unlike
    # ``owner.host``, which the agent says); None where the store cannot tell (SQLite, older rows).
    db_role: str | None = None

    @property
    def ref(self) -> str:
        """The name that addresses exactly this request in its store (see :func:`request_ref`)."""
        return request_ref(self.id, self.db_role)

    @property
    def call(self) -> ToolCall:
        return self.request.call

    @property
    def pending(self) -> bool:
        return self.state is RequestState.PENDING

    def result(self, waited_s: float) -> ApprovalResult | None:
        """The answer as an ``ApprovalResult``; ``None`` while still pending."""
        if self.state is RequestState.PENDING:
            return None
        return ApprovalResult(
            status=self.state,
            approver=self.approver or "agentguard",
            channel=self.channel or "queue",
            reason=self.reason,
            edited_arguments=self.edited_arguments if self.state is RequestState.APPROVED else None,
            scope=self.scope,
            waited_s=waited_s,
        )
