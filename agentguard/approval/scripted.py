"""Approvers that need no person: scripted answers for tests and demos, and the fail-closed default."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from agentguard.models import ApprovalRequest, ApprovalResult, ApprovalStatus

__all__ = ["DenyApprover", "ScriptedApprover"]

# One line of a script (not the queue's ``Answer``, which is an ``ApprovalResult``): a result, a word, or a
# callable giving one.
ScriptLine = ApprovalResult | str | Callable[[ApprovalRequest], "ApprovalResult | str"]


class ScriptedApprover:
    """Answers from a script: a list consumed in order, or one callable for every request.

    A string answer is ``"approve"``, ``"deny"``, ``"deny: reason"`` or ``"timeout"``. When the script
    runs out, the answer is deny (fail closed). Every request seen is kept in ``requests``.
    """

    def __init__(
        self,
        answers: Iterable[ScriptLine] | Callable[[ApprovalRequest], ApprovalResult | str] = (),
        *,
        name: str = "scripted",
        channel: str = "script",
    ) -> None:
        self._lock = threading.Lock()
        self._fn = answers if callable(answers) else None
        self._queue: list[ScriptLine] = [] if callable(answers) else list(answers)
        self.name = name
        self.channel = channel
        self.requests: list[ApprovalRequest] = []

    def request(self, request: ApprovalRequest) -> ApprovalResult:
        with self._lock:
            self.requests.append(request)
            answer: ScriptLine | None
            if self._fn is not None:
                answer = self._fn
            else:
                answer = self._queue.pop(0) if self._queue else None
        if answer is None:
            return self._result(ApprovalStatus.DENIED, reason="scripted approver has no answer left")
        if callable(answer) and not isinstance(answer, ApprovalResult):
            answer = answer(request)
        if isinstance(answer, ApprovalResult):
            return answer
        return self._parse(answer)

    def _parse(self, text: str) -> ApprovalResult:
        verb, _, reason = text.partition(":")
        verb = verb.strip().lower()
        if verb == "approve":
            return self._result(ApprovalStatus.APPROVED)
        if verb == "timeout":
            return self._result(ApprovalStatus.TIMEOUT, reason="scripted timeout")
        return self._result(ApprovalStatus.DENIED, reason=reason.strip() or "denied by script")

    def _result(self, status: ApprovalStatus, **kw: Any) -> ApprovalResult:
        return ApprovalResult(status=status, approver=self.name, channel=self.channel, **kw)


class DenyApprover:
    """Denies every request, saying why: the answer when nobody can be asked."""

    def __init__(self, reason: str, *, name: str = "agentguard", channel: str = "none") -> None:
        self.reason = reason
        self.name = name
        self.channel = channel

    def request(self, request: ApprovalRequest) -> ApprovalResult:
        return ApprovalResult(
            status=ApprovalStatus.DENIED, approver=self.name, channel=self.channel, reason=self.reason
        )
