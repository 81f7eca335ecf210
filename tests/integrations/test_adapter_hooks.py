"""The adapters run each call through the guard's per-call hook: the original tool runs inside the
guarded call (``current_call()`` names it), also for a sync LangChain tool invoked from a running loop."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from agents import function_tool
from langchain_core.tools import tool

from agentguard import Guard, ToolFailed, current_call
from agentguard.integrations.langchain import guard_tools
from agentguard.integrations.openai_agents import guard_function_tools

from .conftest import invoke_agents_tool

RULES = """
p, *, where, *, allow
p, *, awhere, *, allow
"""


def seen_call(label: str) -> str:
    ctx = current_call()
    return f"{label}:{ctx.call.tool}:{ctx.call.framework}" if ctx is not None else f"{label}:outside"


@tool
def where(label: str) -> str:
    """Say which guarded call this runs in."""
    return seen_call(label)


@tool
async def awhere(label: str) -> str:
    """Say which guarded call this runs in (async)."""
    return seen_call(label)


async def test_langchain_tools_run_inside_their_guarded_call(make_guard: Callable[..., Guard]) -> None:
    guarded = {t.name: t for t in guard_tools(make_guard(RULES), [where, awhere])}
    # a sync tool invoked from inside a running event loop, then the async path of both
    assert guarded["where"].invoke({"label": "sync"}) == "sync:where:langchain"
    assert await guarded["where"].ainvoke({"label": "thread"}) == "thread:where:langchain"
    assert await guarded["awhere"].ainvoke({"label": "async"}) == "async:awhere:langchain"


async def test_an_openai_agents_tool_runs_inside_its_guarded_call(make_guard: Callable[..., Guard]) -> None:
    @function_tool
    def where_agents(label: str) -> str:
        """Say which guarded call this runs in."""
        return seen_call(label)

    (guarded,) = guard_function_tools(make_guard("p, *, where_agents, *, allow"), [where_agents])
    raw = orjson.dumps({"label": "oa"}).decode()
    assert await invoke_agents_tool(guarded, raw) == "oa:where_agents:openai-agents"


def test_the_registered_stand_ins_refuse_to_run_outside_their_framework(
    make_guard: Callable[..., Guard],
) -> None:
    guard = make_guard(RULES)
    guard_tools(guard, [where])
    with pytest.raises(ToolFailed, match="outside LangChain"):
        guard.call("where", {"label": "x"})
