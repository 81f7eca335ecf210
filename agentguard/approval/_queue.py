"""``QueueApprover``: the guard's side of the shared approval queue."""

from __future__ import annotations

import contextlib
import time

from agentguard.approval._records import QueuedRequest, RequestState
from agentguard.approval._store_api import ApprovalStore
from agentguard.errors import ApprovalError
from agentguard.models import ApprovalRequest, ApprovalResult, ApprovalStatus
from agentguard.owner import Owner
from agentguard.pipeline import AuditSink
from agentguard.settings import Settings

__all__ = ["QueueApprover", "queue_approver_from_settings"]

CHANNEL = "queue"
_RETRY_S = 0.5  # how soon to read again after the store could not be reached


class QueueApprover:
    """Puts each request in the shared queue and waits for a person to answer it (TUI, CLI, scripts).

    ``request`` blocks until the answer, ``request.timeout_s`` or an interruption; ``arequest`` awaits
    without holding a thread. No answer in time gives ``ApprovalStatus.TIMEOUT``; what a timeout means
    (deny, or allow with ``approval.on_timeout = "allow"``) is the guard's call. If the wait is
    interrupted (Ctrl-C, task cancellation) the request is marked abandoned so nobody answers a call
    that nobody awaits.
    """

    def __init__(
        self,
        store: ApprovalStore,
        *,
        owner: Owner | None = None,
    ) -> None:
        self.store = store
        self.owner = owner or Owner.current()

    def request(self, request: ApprovalRequest) -> ApprovalResult:
        started = time.monotonic()
        deadline = started + request.timeout_s
        maybe_queued = False
        while True:
            try:
                queued = self._submit(request, maybe_queued)
                break
            except ApprovalError as exc:
                seen = self._unsubmitted(exc, request, deadline, maybe_queued)
                maybe_queued = True
                self.store.wait_for_change(seen, min(deadline - time.monotonic(), _RETRY_S))
        try:
            while True:
                try:
                    seen = self.store.version()
                    queued = self.store.get(queued.ref)
                except ApprovalError as exc:
                    seen = self._unreachable(exc, deadline)
                    self.store.wait_for_change(seen, min(deadline - time.monotonic(), _RETRY_S))
                    continue
                if not queued.pending:
                    return self._result(queued, started)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return self._timed_out(queued, request, started)
                self.store.wait_for_change(seen, remaining)
        except BaseException:
            self._abandon(queued.ref)
            raise

    async def arequest(self, request: ApprovalRequest) -> ApprovalResult:
        """The async form of :meth:`request`; the wait holds no thread, so hundreds can wait at once."""
        started = time.monotonic()
        deadline = started + request.timeout_s
        maybe_queued = False
        while True:
            try:
                queued = self._submit(request, maybe_queued)
                break
            except ApprovalError as exc:
                seen = self._unsubmitted(exc, request, deadline, maybe_queued)
                maybe_queued = True
                await self.store.await_change(seen, min(deadline - time.monotonic(), _RETRY_S))
        try:
            while True:
                try:
                    seen = self.store.version()
                    queued = self.store.get(queued.ref)
                except ApprovalError as exc:
                    seen = self._unreachable(exc, deadline)
                    await self.store.await_change(seen, min(deadline - time.monotonic(), _RETRY_S))
                    continue
                if not queued.pending:
                    return self._result(queued, started)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return self._timed_out(queued, request, started)
                await self.store.await_change(seen, remaining)
        except BaseException:
            self._abandon(queued.ref)
            raise

    def _submit(self, request: ApprovalRequest, maybe_queued: bool) -> QueuedRequest:
        """Queue ``request``; after an attempt that failed on a lost connection (``maybe_queued``),
        a request already queued under this call's id is that attempt's, committed before its
        answer was lost: it is waited on, not refused (an approval given to it would be lost)."""
        try:
            return self.store.submit(request, self.owner)
        except ApprovalError as exc:
            if maybe_queued and exc.data.get("request_id") == request.call.id:
                return self.store.get(request.call.id)
            raise

    def _unsubmitted(
        self, exc: ApprovalError, request: ApprovalRequest, deadline: float, maybe_queued: bool
    ) -> int:
        """A submission the store could not take for a moment is tried again until the deadline;
        when it gives up, a copy an earlier attempt may have committed is closed (nobody awaits it)."""
        try:
            return self._unreachable(exc, deadline)
        except ApprovalError:
            if maybe_queued:
                self._abandon(request.call.id)
            raise

    def _unreachable(self, exc: ApprovalError, deadline: float) -> int:
        """A store that cannot be read for a moment (a database restarting, a network cut) is no news:
        keep waiting until the deadline, then fail (closed) with the error. Anything else raises now."""
        if not exc.data.get("transient") or time.monotonic() >= deadline:
            raise exc
        return self.store.version()

    def _abandon(self, request_id: str) -> None:
        # The interruption matters more than this bookkeeping; the sweep catches what is missed here.
        with contextlib.suppress(ApprovalError):
            self.store.close_unanswered(
                request_id, RequestState.ABANDONED, "the waiting call was interrupted"
            )

    def _result(self, queued: QueuedRequest, started: float) -> ApprovalResult:
        result = queued.result(time.monotonic() - started)
        assert result is not None
        if result.status is ApprovalStatus.TIMEOUT:
            # Only this waiter times its request out (``_timed_out``, at the deadline); sweeps abandon.
            # A timeout someone else wrote (in a fleet the agent role may close any pending request) is
            # no timeout of this call: ``on_timeout = "allow"`` must not run it unapproved.
            return result.model_copy(
                update={
                    "status": ApprovalStatus.ABANDONED,
                    "reason": f"closed as timed out by another process before this call's deadline"
                    f" ({result.reason or 'no reason given'})",
                }
            )
        return result

    def _timed_out(self, queued: QueuedRequest, request: ApprovalRequest, started: float) -> ApprovalResult:
        reason = f"no answer within {request.timeout_s:g}s"
        final = self.store.close_unanswered(queued.ref, RequestState.TIMEOUT, reason)
        if final.state is not RequestState.TIMEOUT:
            return self._result(final, started)  # an answer arrived in the last instant: it wins
        return ApprovalResult(
            status=ApprovalStatus.TIMEOUT,
            approver="agentguard",
            channel=CHANNEL,
            reason=reason,
            waited_s=time.monotonic() - started,
        )


def queue_approver_from_settings(settings: Settings, *, audit: AuditSink | None = None) -> QueueApprover:
    """A ``QueueApprover`` on the shared queue: ``settings.home``, or the database at ``database_url``."""
    from agentguard.approval._open import open_store

    return QueueApprover(open_store(settings, audit=audit))
