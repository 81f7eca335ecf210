"""``ApprovalDesk``: the approver's side. The TUI and the CLI both answer through it."""

from __future__ import annotations

import getpass
import os
from datetime import timedelta
from typing import Any

from agentguard.approval._grants import new_grant
from agentguard.approval._records import Answer, Grant, GrantScope, QueuedRequest
from agentguard.approval._store_api import ApprovalStore
from agentguard.errors import ApprovalError
from agentguard.models import ApprovalStatus

__all__ = ["ApprovalDesk", "current_user"]


def current_user() -> str:
    """The OS user name, the default approver identity."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


class ApprovalDesk:
    """Answers queued requests as one approver on one channel (``tui``, ``cli``...)."""

    def __init__(self, store: ApprovalStore, *, approver: str | None = None, channel: str = "cli") -> None:
        self.store = store
        self.approver = approver or current_user()
        self.channel = channel

    def approve(self, request_id: str, *, edited_arguments: dict[str, Any] | None = None) -> QueuedRequest:
        """Approve once; with ``edited_arguments`` the edited call is what runs."""
        if edited_arguments is not None and not isinstance(edited_arguments, dict):
            raise ApprovalError("edited arguments must be a JSON object", field="arguments")
        return self.store.resolve(
            request_id,
            Answer(
                status=ApprovalStatus.APPROVED,
                approver=self.approver,
                channel=self.channel,
                edited_arguments=edited_arguments,
                scope="once",
            ),
        )

    def deny(self, request_id: str, reason: str) -> QueuedRequest:
        """Deny; ``reason`` reaches the agent as the tool's error result."""
        reason = reason.strip()
        if not reason:
            raise ApprovalError("a denial needs a reason: the agent is told it", field="reason")
        return self.store.resolve(
            request_id,
            Answer(status=ApprovalStatus.DENIED, approver=self.approver, channel=self.channel, reason=reason),
        )

    def preview_grant(
        self,
        request_id: str,
        scope: GrantScope,
        *,
        pattern: str | None = None,
        expires_in: timedelta | None = None,
        all_hosts: bool = False,
    ) -> Grant:
        """The grant :meth:`approve_always` would create (validated), without creating it.

        It applies only on the host that asked (the database role that submitted the request, which
        the database checks), unless ``all_hosts``: an agent name is only what a host says, so a
        grant for every host is the approver's explicit choice. SQLite has one host (no host scope);
        a shared database's request from before host identities names no host, and is refused
        without ``all_hosts``: scoped to no host it would apply on every one."""
        queued = self.store.get(request_id)
        if not all_hosts and queued.db_role is None and self.store.verifies_hosts:
            raise ApprovalError(
                f"request {queued.id[:12]} has no verified host (it was submitted before host identities),"
                " so an 'always' grant from it would apply on every agent host: approve it once, or pass"
                " --all-hosts to grant every host",
                request_id=queued.id,
                field="all_hosts",
            )
        now = self.store.now()  # the store's clock: what its expiry checks and sweeps use too
        try:
            expires_at = now + expires_in if expires_in is not None else None
        except OverflowError:
            raise ApprovalError("the expiry is too far in the future", field="expires") from None
        grant = new_grant(
            queued.call,
            scope,
            created_by=self.approver,
            pattern=pattern,
            expires_at=expires_at,
            request_id=queued.id,
            now=now,
            decided=queued.request.decision.arguments,
            paths=queued.request.decision.path_arguments,
        )
        return grant if all_hosts else grant.model_copy(update={"host_role": queued.db_role})

    def approve_always(
        self,
        request_id: str,
        scope: GrantScope,
        *,
        pattern: str | None = None,
        expires_in: timedelta | None = None,
        all_hosts: bool = False,
    ) -> tuple[QueuedRequest, Grant]:
        """Approve this call and store a grant of ``scope`` that the policy enforces from now on (on the
        host that asked, or on ``all_hosts``)."""
        grant = self.preview_grant(
            request_id, scope, pattern=pattern, expires_in=expires_in, all_hosts=all_hosts
        )
        queued = self.store.resolve(
            request_id,
            Answer(
                status=ApprovalStatus.APPROVED,
                approver=self.approver,
                channel=self.channel,
                scope=f"always:{scope.value}",
                reason=f"grant {grant.id}",
            ),
            grant=grant,
        )
        return queued, grant

    def revoke(self, grant_id_or_prefix: str) -> Grant:
        """Revoke a grant; revoking it again completes an interrupted revocation."""
        grant = self.store.lookup_grant(grant_id_or_prefix)
        return self.store.revoke_grant(grant.id, self.approver)
