"""The terminal approver, driven through a real pseudo-terminal."""

from __future__ import annotations

import io
import os
import pty
import threading
from collections.abc import Iterator
from typing import TextIO

import pytest

from agentguard.approval.terminal import TerminalApprover
from agentguard.models import ApprovalRequest, ApprovalResult, ApprovalStatus, Decision, Effect, ToolCall


class _Screen(io.StringIO):
    """The approver's output; ``prompted`` is set each time a prompt has been written."""

    def __init__(self) -> None:
        super().__init__()
        self.prompted = threading.Event()

    def flush(self) -> None:
        super().flush()
        if "approve?" in self.getvalue():
            self.prompted.set()


@pytest.fixture
def terminal() -> Iterator[tuple[int, TextIO]]:
    """(the keyboard end of a pty, the approver's stdin: the pty's terminal end)."""
    keyboard, tty = pty.openpty()
    stdin = os.fdopen(tty, "r", encoding="utf-8", closefd=True)
    try:
        yield keyboard, stdin
    finally:
        stdin.close()
        os.close(keyboard)


def _request(timeout_s: float) -> ApprovalRequest:
    call = ToolCall(agent="a", tool="fs.write", arguments={"path": "x"})
    return ApprovalRequest(call=call, decision=Decision(effect=Effect.ASK, reason="r"), timeout_s=timeout_s)


def _ask_in_thread(
    approver: TerminalApprover, timeout_s: float
) -> tuple[threading.Thread, list[ApprovalResult]]:
    out: list[ApprovalResult] = []
    thread = threading.Thread(target=lambda: out.append(approver.request(_request(timeout_s))))
    thread.start()
    return thread, out


def test_an_answer_after_a_timed_out_prompt_goes_to_the_next_prompt(terminal: tuple[int, TextIO]) -> None:
    keyboard, stdin = terminal
    screen = _Screen()
    approver = TerminalApprover(stdin=stdin, stdout=screen)
    assert approver.request(_request(0.05)).status is ApprovalStatus.TIMEOUT

    screen.prompted.clear()
    screen.seek(0)
    screen.truncate()
    thread, out = _ask_in_thread(approver, 30)
    assert screen.prompted.wait(10)
    os.write(keyboard, b"y\n")
    thread.join(30)
    assert out
    assert out[0].status is ApprovalStatus.APPROVED


def test_input_typed_before_a_prompt_shows_is_discarded(terminal: tuple[int, TextIO]) -> None:
    keyboard, stdin = terminal
    screen = _Screen()
    approver = TerminalApprover(stdin=stdin, stdout=screen)
    os.write(keyboard, b"y\n")  # typed for no prompt (e.g. late, for one that expired)
    thread, out = _ask_in_thread(approver, 30)
    assert screen.prompted.wait(10)
    os.write(keyboard, b"n: not this one\n")
    thread.join(30)
    assert out
    assert out[0].status is ApprovalStatus.DENIED
    assert out[0].reason == "not this one"


def test_no_answer_is_a_timeout_and_leaves_no_reader_behind(terminal: tuple[int, TextIO]) -> None:
    _, stdin = terminal
    before = threading.active_count()
    result = TerminalApprover(stdin=stdin, stdout=_Screen()).request(_request(0.05))
    assert result.status is ApprovalStatus.TIMEOUT
    assert threading.active_count() == before
