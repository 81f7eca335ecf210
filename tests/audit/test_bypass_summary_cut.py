"""A tool's result is summed up in ``execution.finished`` as its first 500 characters, and the log
redacts that text. A secret the cut went through was no longer one the redaction recognised: its
first part (22 of a GitHub token's 36 secret characters, half of a secret argument's text) was
written to the log. The summary is now redacted, and the call's secret arguments masked, before it
is cut."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from agentguard import Guard
from agentguard.audit import AuditLog
from agentguard.models import Decision, Effect, ToolCall

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


class Allow:
    def decide(self, call: ToolCall) -> Decision:
        return Decision(effect=Effect.ALLOW, reason="test")


@pytest.mark.parametrize("before", [470, 480, 490, 496])
def test_a_secret_across_the_summary_cut_is_not_logged_in_part(tmp_path: Path, before: int) -> None:
    text = "x" * before + TOKEN + " and more"

    def read() -> str:
        return text

    path = tmp_path / "audit.jsonl"
    with Guard(Allow(), audit=AuditLog(path)) as guard:
        guard.register("read", read)
        assert guard.call("read", {}) == text  # the caller gets the result as it is
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    finished = [r for r in records if r["event"] == "execution.finished"]
    assert len(finished) == 1
    result = finished[0]["result"]
    assert result.startswith("x" * before)
    assert "ghp_A1b2" not in path.read_text()
    assert result.endswith(f"... [{len(text) - 500} more chars]")


def test_a_long_result_without_secrets_is_cut_as_before(tmp_path: Path) -> None:
    text = "y" * 1200

    def read() -> str:
        return text

    path = tmp_path / "audit.jsonl"
    with Guard(Allow(), audit=AuditLog(path)) as guard:
        guard.register("read", read)
        guard.call("read", {})
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    (finished,) = [r for r in records if r["event"] == "execution.finished"]
    assert finished["result"] == "y" * 500 + "... [700 more chars]"


def test_a_secret_argument_across_the_summary_cut_is_not_logged_in_part(tmp_path: Path) -> None:
    """A secret argument's text is masked wherever a record repeats it, also in part at the cut: no
    detector knows a password, only the call does."""
    password = "correct-horse-battery-staple-42"
    text = "x" * 485 + password + " echoed"

    def login(user: str, password: SecretStr) -> str:
        return text

    path = tmp_path / "audit.jsonl"
    with Guard(Allow(), audit=AuditLog(path)) as guard:
        guard.register("login", login)
        assert guard.call("login", {"user": "me", "password": password}) == text
    logged = path.read_text()
    assert "correct-horse" not in logged
    records = [orjson.loads(line) for line in logged.splitlines()]
    (finished,) = [r for r in records if r["event"] == "execution.finished"]
    assert finished["result"].startswith("x" * 485)
