"""Ask the person at this terminal: single-process use, when stdin is a TTY."""

from __future__ import annotations

import getpass
import sys
import threading
import time
from typing import TextIO

import orjson

from agentguard.models import ApprovalRequest, ApprovalResult, ApprovalStatus

__all__ = ["TerminalApprover"]


class TerminalApprover:
    """Prints the call and the rule that asked, then reads ``y``/``n`` (with an optional reason).

    One prompt at a time (a lock), so concurrent calls do not interleave on the screen. No answer
    within the request's timeout means timeout.
    """

    channel = "terminal"

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self._in = stdin or sys.stdin
        self._out = stdout or sys.stderr
        self._lock = threading.Lock()
        try:
            self._who = getpass.getuser()
        except (KeyError, OSError):
            self._who = "terminal-user"

    def request(self, request: ApprovalRequest) -> ApprovalResult:
        start = time.monotonic()
        with self._lock:
            call, decision = request.call, request.decision
            args = orjson.dumps(call.arguments, option=orjson.OPT_INDENT_2, default=str).decode()
            self._out.write(
                f"\n[agentguard] approval needed: agent {call.agent!r} wants {call.tool}\n"
                f"{args}\nrule: {decision.rule_id}  ({decision.reason})\n"
                f"approve? [y/N, or 'n: reason'] (times out in {request.timeout_s:.0f}s) "
            )
            self._out.flush()
            answer = self._readline(request.timeout_s)
        waited = time.monotonic() - start
        if answer is None:
            return self._result(ApprovalStatus.TIMEOUT, waited, reason="no answer at the terminal")
        verb, _, reason = answer.strip().partition(":")
        if verb.strip().lower() in {"y", "yes", "a", "approve"}:
            return self._result(ApprovalStatus.APPROVED, waited)
        return self._result(ApprovalStatus.DENIED, waited, reason=reason.strip() or "denied at the terminal")

    def _readline(self, timeout_s: float) -> str | None:
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self._in.readline()), daemon=True)
        reader.start()
        reader.join(timeout_s)
        return box[0] if box else None

    def _result(self, status: ApprovalStatus, waited: float, reason: str | None = None) -> ApprovalResult:
        return ApprovalResult(
            status=status, approver=self._who, channel=self.channel, reason=reason, waited_s=round(waited, 3)
        )
