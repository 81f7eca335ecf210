"""What every approval store is: the :class:`ApprovalStore` protocol the SQLite store (``_store``)
and the PostgreSQL one (``_pg_store``) implement, the error an answer that lost the race raises, and
the check every grant passes before either stores it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from agentguard.approval._grants import check_grant
from agentguard.approval._records import Answer, Grant, QueuedRequest, RequestState
from agentguard.errors import ApprovalError
from agentguard.models import ApprovalRequest
from agentguard.owner import Owner

__all__ = ["AlreadyAnswered", "ApprovalStore", "validate_grant"]


class AlreadyAnswered(ApprovalError):
    """The request was answered (or timed out, or abandoned) before this answer arrived."""

    code = "approval.already_answered"


def validate_grant(grant: Grant) -> None:
    """Refuse a grant that would not compile: one that is stored is one that is enforced."""
    problem = check_grant(grant)
    if problem is not None:
        raise ApprovalError(f"grant {grant.id[:12]} cannot be enforced: {problem}", grant_id=grant.id)


@runtime_checkable
class ApprovalStore(Protocol):
    """Where pending requests and grants live. SQLite today; a server database can implement this."""

    # Whether requests carry the database role that submitted them (``db_role``): a shared database
    # of many hosts, where a request without one is from before host identities (not: one host).
    verifies_hosts: bool

    def submit(self, request: ApprovalRequest, owner: Owner) -> QueuedRequest: ...
    def get(self, request_id: str) -> QueuedRequest: ...
    def lookup(self, id_or_prefix: str) -> QueuedRequest: ...
    def pending(self) -> list[QueuedRequest]: ...
    def recent(self, limit: int = 100) -> list[QueuedRequest]: ...
    def resolve(self, request_id: str, answer: Answer, grant: Grant | None = None) -> QueuedRequest: ...
    def close_unanswered(self, request_id: str, state: RequestState, reason: str) -> QueuedRequest: ...
    def sweep(self) -> list[str]: ...
    def now(self) -> datetime: ...
    def version(self) -> int: ...
    def wait_for_change(self, seen: int, timeout: float) -> int: ...
    async def await_change(self, seen: int, timeout: float) -> int: ...
    def grants(self, *, include_inactive: bool = False) -> list[Grant]: ...
    def add_grant(self, grant: Grant) -> Grant: ...
    def lookup_grant(self, id_or_prefix: str) -> Grant: ...
    def revoke_grant(self, grant_id: str, by: str) -> Grant: ...
    def close(self) -> None: ...
