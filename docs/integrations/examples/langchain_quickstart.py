"""LangChain quickstart: guard a tool list with one line, run an agent loop, read the audit log.

Runs offline: a scripted chat model stands in for the LLM. Run: python langchain_quickstart.py
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

from agentguard import Guard, Settings
from agentguard.audit import read_records
from agentguard.integrations.langchain import guard_tools
from agentguard.integrations.langchain.testing import ScriptedChatModel, run_tool_loop
from agentguard.settings import DEFAULT_POLICY_DIR
from agentguard.testing import ScriptedApprover

POLICY = """\
p, *, read_file, *, allow
p, *, write_file, *, ask
p, *, delete_tree, *, deny
"""


@tool
def read_file(path: str) -> str:
    """Read a text file."""
    return f"(contents of {path})"


@tool
def write_file(path: str, content: str) -> str:
    """Write a text file."""
    return f"wrote {len(content)} bytes to {path}"


@tool
def delete_tree(path: str) -> str:
    """Delete a directory tree."""
    return "deleted"


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="agentguard-lc-"))
    policy = home / "permissions"
    policy.mkdir()
    shutil.copy(DEFAULT_POLICY_DIR / "model.conf", policy / "model.conf")
    (policy / "policy.csv").write_text(POLICY)

    # A scripted person: approves the first ask. In real use leave approver out (terminal prompt)
    # or pass agentguard.approval.queue_approver_from_settings(settings) and answer with `agentguard approve`.
    guard = Guard(
        policy, approver=ScriptedApprover(["approve"]), settings=Settings(home=home), agent="lc-demo"
    )

    tools = guard_tools(guard, [read_file, write_file, delete_tree])  # <- the one-line change

    model = ScriptedChatModel(
        [
            AIMessage("", tool_calls=[{"name": "read_file", "args": {"path": "README.md"}, "id": "1"}]),
            AIMessage(
                "",
                tool_calls=[{"name": "write_file", "args": {"path": "NOTES.md", "content": "hi"}, "id": "2"}],
            ),
            AIMessage("", tool_calls=[{"name": "delete_tree", "args": {"path": "/"}, "id": "3"}]),
            AIMessage("done"),
        ]
    )
    messages = run_tool_loop(model.bind_tools(tools), tools, "tidy up the repo")
    results = [str(m.content) for m in messages if isinstance(m, ToolMessage)]
    for line in results:
        print("tool result:", line)
    guard.close()

    assert results[0] == "(contents of README.md)"
    assert results[1] == "wrote 2 bytes to NOTES.md"
    assert "denied by policy.csv:3" in results[2]
    events = [(r["tool"], r["event"]) for r in read_records(home / "audit.jsonl")]
    assert all(r["framework"] == "langchain" for r in read_records(home / "audit.jsonl"))
    print("audit:", *events, sep="\n  ")


if __name__ == "__main__":
    main()
