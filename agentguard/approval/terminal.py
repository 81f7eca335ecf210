"""Ask the person at this terminal: single-process use, when stdin is a TTY.

Answers are read with ``select`` on the descriptor, never by a reader thread: a thread left
blocked in ``readline`` after a timeout would take the *next* prompt's answer for its own.
Input typed while no prompt is showing is discarded before each prompt, so a late "y" meant for
an expired prompt cannot approve the next one.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import select
import sys
import termios
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
        self._pending = b""
        try:
            self._who = getpass.getuser()
        except (KeyError, OSError):
            self._who = "terminal-user"

    def request(self, request: ApprovalRequest) -> ApprovalResult:
        start = time.monotonic()
        with self._lock:
            call, decision = request.call, request.decision
            self._discard_typeahead()
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

    def _discard_typeahead(self) -> None:
        """Drop what was typed while no prompt was showing (before the prompt is written)."""
        try:
            fd = self._in.fileno()
        except (AttributeError, OSError, ValueError):
            return
        if os.isatty(fd):
            with contextlib.suppress(termios.error):
                termios.tcflush(fd, termios.TCIFLUSH)
            self._pending = b""

    def _readline(self, timeout_s: float) -> str | None:
        """One line typed within ``timeout_s``, or ``None``. Streams without a descriptor block."""
        try:
            fd = self._in.fileno()
        except (AttributeError, OSError, ValueError):
            return self._in.readline()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal went away (EIO on a hung-up pty): no answer
                return None
            if not chunk:  # end of input: what was typed so far, or nothing
                line, self._pending = self._pending, b""
                return line.decode("utf-8", "replace") if line else None
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode("utf-8", "replace")

    def _result(self, status: ApprovalStatus, waited: float, reason: str | None = None) -> ApprovalResult:
        return ApprovalResult(
            status=status, approver=self._who, channel=self.channel, reason=reason, waited_s=round(waited, 3)
        )
