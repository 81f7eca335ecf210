"""LangChain tools through the guard, driven by a real tool-calling loop and a scripted chat model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field, ValidationError

from agentguard import ApprovalResult, ApprovalStatus, Guard, PolicyDenied
from agentguard.integrations.langchain import GuardedTool, guard_tools
from agentguard.integrations.langchain.testing import ScriptedChatModel, arun_tool_loop, run_tool_loop

from .conftest import audit_records, outcome

RULES = """
p, *, read_file, *, allow
p, *, search, *, allow
p, *, lookup, *, allow
p, *, write_file, *, ask
p, *, write_file, path(path, "/etc/**"), deny
p, *, rm_rf, *, deny
"""

RAN: list[tuple[str, Any]] = []


@tool
def read_file(path: str) -> str:
    """Read a text file."""
    RAN.append(("read_file", path))
    return f"contents of {path}"


@tool
def write_file(path: str, content: str) -> str:
    """Write a text file."""
    RAN.append(("write_file", path))
    return f"wrote {len(content)} bytes to {path}"


@tool
def rm_rf(path: str) -> str:
    """Remove a directory tree."""
    RAN.append(("rm_rf", path))
    return "gone"


class SearchArgs(BaseModel):
    query: str = Field(description="what to look for")
    limit: int = Field(default=3, ge=1, le=10)


class Search(BaseTool):
    name: str = "search"
    description: str = "Search the notes."
    args_schema: type[BaseModel] = SearchArgs
    response_format: str = "content_and_artifact"  # type: ignore[assignment]

    def _run(self, query: str, limit: int = 3) -> tuple[str, list[str]]:
        RAN.append(("search", (query, limit)))
        hits = [f"{query}-{i}" for i in range(limit)]
        return f"{len(hits)} hits", hits


@tool
async def lookup(key: str) -> str:
    """Look a key up (async-only tool)."""
    RAN.append(("lookup", key))
    return key.upper()


def tools() -> list[BaseTool]:
    return [read_file, write_file, rm_rf, Search(), lookup]


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def call(name: str, args: dict[str, Any], n: int) -> dict[str, Any]:
    return {"name": name, "args": args, "id": f"call_{n}", "type": "tool_call"}


SCRIPT = [
    AIMessage("", tool_calls=[call("read_file", {"path": "README.md"}, 1)]),
    AIMessage("", tool_calls=[call("write_file", {"path": "notes.md", "content": "hi"}, 2)]),
    AIMessage("", tool_calls=[call("write_file", {"path": "notes.md", "content": "again"}, 3)]),
    AIMessage("", tool_calls=[call("write_file", {"path": "/etc/passwd", "content": "x"}, 4)]),
    AIMessage("", tool_calls=[call("rm_rf", {"path": "/"}, 5)]),
    AIMessage("all done"),
]


def tool_results(messages: list[Any]) -> list[str]:
    return [str(m.content) for m in messages if isinstance(m, ToolMessage)]


def check_transcript(results: list[str], audit_path: Path, guard: Guard) -> None:
    assert results[0] == "contents of README.md"
    notes = str(guard.settings.workspace / "notes.md")  # the path the rule resolved is what runs
    assert results[1] == f"wrote 2 bytes to {notes}"
    assert "denied by reviewer: not now" in results[2]
    assert "[approval.denied]" in results[2]
    assert "policy.csv:5" in results[3]
    assert "[policy.denied]" in results[3]
    assert "policy.csv:6" in results[4]
    assert [("read_file", "README.md"), ("write_file", notes)] == RAN
    guard.close()
    assert outcome(audit_records(audit_path)) == [
        ("read_file", "langchain", "execution.finished"),
        ("write_file", "langchain", "execution.finished"),
        ("write_file", "langchain", "approval.resolved"),
        ("write_file", "langchain", "policy.decided"),
        ("rm_rf", "langchain", "policy.decided"),
    ]


def reviewer(answers: list[str]) -> Any:
    from agentguard.testing import ScriptedApprover

    return ScriptedApprover(answers, name="reviewer")


def test_agent_loop_allow_ask_approve_ask_deny_and_deny(
    make_guard: Callable[..., Guard], audit_path: Path
) -> None:
    guard = make_guard(RULES, reviewer(["approve", "deny: not now"]))
    guarded = guard_tools(guard, tools())
    model = ScriptedChatModel(SCRIPT)
    messages = run_tool_loop(model.bind_tools(guarded), guarded, "tidy the repo")
    assert messages[-1].content == "all done"
    check_transcript(tool_results(messages), audit_path, guard)


async def test_async_agent_loop(make_guard: Callable[..., Guard], audit_path: Path) -> None:
    guard = make_guard(RULES, reviewer(["approve", "deny: not now"]))
    guarded = guard_tools(guard, tools())
    messages = await arun_tool_loop(ScriptedChatModel(SCRIPT).bind_tools(guarded), guarded, "tidy the repo")
    check_transcript(tool_results(messages), audit_path, guard)


def test_wrapped_tools_look_the_same_to_the_model(make_guard: Callable[..., Guard]) -> None:
    originals = tools()
    guarded = guard_tools(make_guard(RULES), originals)
    for before, after in zip(originals, guarded, strict=True):
        assert isinstance(after, GuardedTool)
        assert after.original is before
        assert (after.name, after.description) == (before.name, before.description)
        assert convert_to_openai_tool(after) == convert_to_openai_tool(before)
        assert after.response_format == before.response_format


def test_allow_all_policy_keeps_every_result_the_same(make_guard: Callable[..., Guard]) -> None:
    guard = make_guard("p, *, *, *, allow")
    guarded = {t.name: t for t in guard_tools(guard, tools())}
    originals = {t.name: t for t in tools()}
    cases = [
        call("read_file", {"path": "a"}, 1),
        call("write_file", {"path": "b", "content": "xyz"}, 2),
        call("search", {"query": "q"}, 3),
        call("search", {"query": "q", "limit": 2}, 4),
    ]
    for case in cases:
        want = originals[case["name"]].invoke(case)
        got = guarded[case["name"]].invoke(case)
        assert (got.content, got.artifact, got.status) == (want.content, want.artifact, want.status)
    assert guarded["search"].invoke({"query": "z", "limit": 1}) == "1 hits"


async def test_async_only_tool_through_ainvoke(make_guard: Callable[..., Guard], audit_path: Path) -> None:
    guard = make_guard(RULES)
    guarded = {t.name: t for t in guard_tools(guard, tools())}
    assert await guarded["lookup"].ainvoke({"key": "abc"}) == "ABC"
    assert RAN == [("lookup", "abc")]


def test_on_deny_raise(make_guard: Callable[..., Guard]) -> None:
    guarded = {t.name: t for t in guard_tools(make_guard(RULES), tools(), on_deny="raise")}
    with pytest.raises(PolicyDenied) as info:
        guarded["rm_rf"].invoke({"path": "/"})
    assert info.value.data["rule"].endswith("policy.csv:6")
    assert RAN == []


def test_invalid_arguments_fail_as_before_and_are_audited(
    make_guard: Callable[..., Guard], audit_path: Path
) -> None:
    guard = make_guard(RULES)
    guarded = {t.name: t for t in guard_tools(guard, tools())}
    with pytest.raises(ValidationError):
        guarded["search"].invoke({"query": "q", "limit": 99})
    with pytest.raises(ValidationError):
        Search().invoke({"query": "q", "limit": 99})
    assert RAN == []
    guard.close()
    records = audit_records(audit_path)
    assert [(r["event"], r["framework"]) for r in records] == [
        ("call.received", "langchain"),
        ("call.rejected", "langchain"),
    ]
    assert records[1]["error"]["code"] == "call.invalid_arguments"
    assert "limit" in records[1]["error"]["message"]


def test_an_approver_edit_is_what_runs(make_guard: Callable[..., Guard], audit_path: Path) -> None:
    def edit(request: Any) -> ApprovalResult:
        return ApprovalResult(
            status=ApprovalStatus.APPROVED,
            approver="reviewer",
            channel="script",
            edited_arguments={"path": "safe.md", "content": "hi"},
        )

    guard = make_guard(RULES, reviewer([edit]))
    guarded = {t.name: t for t in guard_tools(guard, tools())}
    safe = str(guard.settings.workspace / "safe.md")
    assert guarded["write_file"].invoke({"path": "notes.md", "content": "hi"}) == f"wrote 2 bytes to {safe}"
    assert [("write_file", safe)] == RAN


def test_tool_errors_are_handled_as_the_original_would(make_guard: Callable[..., Guard]) -> None:
    from langchain_core.tools import ToolException

    @tool
    def flaky(x: int) -> str:
        """Always fails."""
        raise ToolException(f"flaky failed on {x}")

    flaky.handle_tool_error = True

    guard = make_guard("p, *, flaky, *, allow")
    (guarded,) = guard_tools(guard, [flaky])
    assert guarded.invoke({"x": 1}) == flaky.invoke({"x": 1}) == "flaky failed on 1"


def test_prefix_names_tools_in_policy(make_guard: Callable[..., Guard]) -> None:
    guard = make_guard("p, *, lc.read_file, *, allow")
    (guarded,) = guard_tools(guard, [read_file], prefix="lc.")
    assert guarded.name == "read_file"
    assert guarded.invoke({"path": "x"}) == "contents of x"
    assert "lc.read_file" in guard.tools
