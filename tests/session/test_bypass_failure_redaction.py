"""A failing tool's error text reaches the model (the MCP proxy answers with it, adapters show it), so
redaction applies to it as to a result.

Class: ``redact = ["secret"]`` in outputs.toml replaced secrets in results only; a tool (an MCP
server answering with a JSON-RPC error) whose failure message quoted a secret handed it to the model
verbatim in the ``ToolFailed`` text, and wrote it to the audit log.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard import Guard, ToolFailed

from .conftest import Tools, records

TOKEN = "ghp_" + "d" * 36


def test_a_secret_in_a_failure_message_is_redacted(guard: tuple[Guard, Tools, Path]) -> None:
    g, tools, audit_path = guard
    tools.outputs["files.read"] = RuntimeError(f"cannot parse config: token = {TOKEN}")
    with pytest.raises(ToolFailed) as info:
        g.call("files.read", {"path": "/x"})
    assert TOKEN not in str(info.value)
    assert "[REDACTED:" in str(info.value)
    assert TOKEN not in audit_path.read_text()
    assert any(r["event"] == "execution.failed" for r in records(audit_path))


def test_a_failure_of_a_tool_without_redaction_is_unchanged(guard: tuple[Guard, Tools, Path]) -> None:
    g, tools, _ = guard
    tools.outputs["web.get"] = RuntimeError(f"token = {TOKEN}")
    with pytest.raises(ToolFailed) as info:
        g.call("web.get", {"url": "https://example.com/"})
    assert TOKEN in str(info.value)
