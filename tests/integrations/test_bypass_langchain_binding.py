"""LangChain: every value the original tool receives that a model could have written is decided by
the guard (found by the red team). Before, three routes reached the tool undecided:

- a text input (a legacy agent's ``tool.run("...")``) to a tool with more than one field was decided
  as ``{}`` and bound positionally by LangChain: ``read("/etc/passwd")`` ran past a deny on ``path``;
- an ``InjectedToolArg`` the app leaves unset takes the value the model's tool call carries (LangChain
  forwards it unchecked), and the guard left it out of the decision;
- with a JSON-schema ``args_schema`` LangChain forwards keys the schema does not declare; the guard
  dropped them from the decision but the original still got them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
from langchain_core.tools import BaseTool, InjectedToolArg, StructuredTool, tool
from pydantic import BaseModel

from agentguard import Guard
from agentguard.integrations.langchain import guard_tools

from .conftest import audit_records

RAN: list[Any] = []


def rules(tool_name: str, key: str = "path") -> str:
    return f"""
p, *, {tool_name}, *, allow
p, *, {tool_name}, path({key}, "/etc/**"), deny
"""


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def tool_call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "args": args, "id": "call_1", "type": "tool_call"}


@tool
def read(path: str = "notes.md", limit: int = 3) -> str:
    """Read a file."""
    RAN.append((path, limit))
    return "read"


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_text_input_is_decided_as_the_field_it_binds_to(
    make_guard: Callable[..., Guard], is_async: bool
) -> None:
    guard = make_guard(rules("read"))
    (guarded,) = guard_tools(guard, [read])
    result = await guarded.arun("/etc/passwd") if is_async else guarded.run("/etc/passwd")
    assert "[policy.denied]" in str(result)
    assert RAN == []
    assert guarded.run("notes.md") == "read"
    assert [(str(guard.settings.workspace / "notes.md"), 3)] == RAN  # the path the rule resolved


class ReadArgs(BaseModel):
    path: str = "notes.md"
    limit: int = 3


def read_backwards(limit: Any = 3, path: str = "notes.md") -> str:
    """A function whose parameters are in another order than its schema's fields."""
    RAN.append((path, limit))
    return "read"


def test_a_text_input_reaches_the_original_by_name(make_guard: Callable[..., Guard]) -> None:
    # LangChain checks a text input as the schema's first field (path) but passes it positionally
    # (to limit); the guard decides it as path, so path is what the function gets.
    original = StructuredTool.from_function(read_backwards, name="read_backwards", args_schema=ReadArgs)
    guard = make_guard(rules("read_backwards"))
    (guarded,) = guard_tools(guard, [original])
    assert "[policy.denied]" in str(guarded.run("/etc/passwd"))
    assert guarded.run("todo.md") == "read"
    assert [(str(guard.settings.workspace / "todo.md"), 3)] == RAN


@tool
def fetch(name: str, path: Annotated[str, InjectedToolArg] = "cache/default") -> str:
    """Fetch a named entry; ``path`` is meant to be set by the application."""
    RAN.append((name, path))
    return "fetched"


@pytest.mark.parametrize("is_async", [False, True])
async def test_an_injected_argument_the_model_sets_is_decided(
    make_guard: Callable[..., Guard], audit_path: Path, is_async: bool
) -> None:
    guard = make_guard(rules("fetch"))
    (guarded,) = guard_tools(guard, [fetch])
    call = tool_call("fetch", {"name": "a", "path": "/etc/shadow"})
    result = await guarded.ainvoke(call) if is_async else guarded.invoke(call)
    assert "[policy.denied]" in str(result.content)
    assert RAN == []
    # what the application injects is decided and logged too, and runs as it was
    assert guarded.invoke(tool_call("fetch", {"name": "b", "path": "cache/b"})).content == "fetched"
    assert [("b", str(guard.settings.workspace / "cache/b"))] == RAN
    guard.close()
    received = [r["arguments"] for r in audit_records(audit_path) if r["event"] == "call.received"]
    assert received[-1] == {"name": "b", "path": "cache/b"}


class Store:
    """An object an application injects (a store, a graph's state): no model can write one."""


@tool
def remember(key: str, store: Annotated[Any, InjectedToolArg]) -> str:
    """Remember a key."""
    RAN.append((key, type(store).__name__))
    return "ok"


def test_an_injected_object_still_reaches_the_tool(make_guard: Callable[..., Guard]) -> None:
    guard = make_guard(rules("remember", "key"))
    (guarded,) = guard_tools(guard, [remember])
    assert guarded.invoke(tool_call("remember", {"key": "k", "store": Store()})).content == "ok"
    assert [(str(guard.settings.workspace / "k"), "Store")] == RAN


class JsonSchemaTool(BaseTool):
    name: str = "copy"
    description: str = "Copy a file (a JSON-schema args_schema: LangChain checks nothing)."
    args_schema: dict[str, Any] = {  # type: ignore[assignment]  # noqa: RUF012 - a pydantic field
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    }

    def _run(self, **kwargs: Any) -> str:
        RAN.append(kwargs)
        return "copied"


def test_an_undeclared_key_is_not_forwarded(make_guard: Callable[..., Guard], audit_path: Path) -> None:
    guard = make_guard(rules("copy"))
    (guarded,) = guard_tools(guard, [JsonSchemaTool()])
    result = guarded.invoke(tool_call("copy", {"path": "notes.md", "target": "/etc/cron.d/x"}))
    assert result.content == "copied"
    assert [{"path": str(guard.settings.workspace / "notes.md")}] == RAN
    guard.close()
    dropped = [r["dropped"] for r in audit_records(audit_path) if r["event"] == "call.arguments_dropped"]
    assert dropped == [["target"]]
