"""An argument under a key that names a secret (``password``, ``api_key``, ``dbPassword``) is written
as ``[REDACTED]`` in the call's arguments, and its text is looked for where the tool repeats it: a
tool that echoes it in an error (``login refused for ann with <password>``) or in its result put it
in ``execution.failed`` / ``execution.finished`` as it was, unless a detector knew its shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentguard import Guard
from agentguard.audit import AuditLog
from agentguard.errors import PolicyDenied, ToolFailed
from agentguard.models import Decision, Effect, ToolCall

PASSWORD = "Tr0ub4dor&3xyz"


class Allow:
    def decide(self, call: ToolCall) -> Decision:
        return Decision(effect=Effect.ALLOW, reason="test")


def login(user: str, password: str) -> str:
    raise ValueError(f"login refused for {user} with {password}")


def connect(options: dict[str, Any]) -> str:
    secret = options["auth"][0]["dbPassword"]
    return f"connected with {secret} " + "x" * 800 + secret


def test_a_key_named_secret_argument_is_hidden_in_the_arguments(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with Guard(Allow(), audit=AuditLog(path)) as guard:
        guard.register("login", login)
        with pytest.raises(ToolFailed):
            guard.call("login", {"user": "ann", "password": PASSWORD})
    assert '"password":"[REDACTED]"' in path.read_text()


def test_a_key_named_secret_argument_repeated_in_an_error_is_not_logged(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with Guard(Allow(), audit=AuditLog(path)) as guard:
        guard.register("login", login)
        with pytest.raises(ToolFailed):
            guard.call("login", {"user": "ann", "password": PASSWORD})
    text = path.read_text()
    assert PASSWORD not in text
    assert "login refused for ann with [REDACTED:secret_argument]" in text


def test_a_nested_key_named_secret_repeated_in_a_long_result_is_not_logged(tmp_path: Path) -> None:
    """Nested (a list of objects under ``options``), camelCase, and past the summary's cut."""
    path = tmp_path / "audit.jsonl"
    with Guard(Allow(), audit=AuditLog(path)) as guard:
        guard.register("connect", connect)
        shown = guard.call("connect", {"options": {"auth": [{"dbPassword": PASSWORD}]}})
    assert PASSWORD in shown  # the caller gets the tool's result as it is
    text = path.read_text()
    assert PASSWORD not in text
    assert "connected with [REDACTED:secret_argument]" in text


def test_a_plain_argument_repeated_in_the_result_is_logged(tmp_path: Path) -> None:
    """Only key-named texts are hidden: an ordinary argument echoed back stays readable."""
    path = tmp_path / "audit.jsonl"
    with Guard(Allow(), audit=AuditLog(path)) as guard:
        guard.register("echo", lambda text: f"you said {text}")
        guard.call("echo", {"text": PASSWORD})
    assert f"you said {PASSWORD}" in path.read_text()


class DenyQuotingTheValue:
    """A decider whose evidence quotes the argument's value, as provenance conditions do
    ("'...' first appeared in the untrusted output of ..."), where no detector knows its shape."""

    def decide(self, call: ToolCall) -> Decision:
        from agentguard.session._evidence import note

        note(lambda: f"{call.arguments['password']!r} first appeared in the output of web.fetch")
        return Decision(effect=Effect.DENY, reason="test")


def test_a_key_named_secret_quoted_in_the_decisions_evidence_is_not_logged(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with Guard(DenyQuotingTheValue(), audit=AuditLog(path)) as guard:
        guard.register("login", login)
        with guard.session(user_request="log in"), pytest.raises(PolicyDenied):
            guard.call("login", {"user": "ann", "password": PASSWORD})
    text = path.read_text()
    assert "first appeared in the output of web.fetch" in text  # the evidence is there...
    assert PASSWORD not in text  # ...without the secret it quoted
