"""A scripted chat model that emits tool calls, and the classic tool-calling loop, for offline tests.

model = ScriptedChatModel(turns=[AIMessage("", tool_calls=[...]), AIMessage("done")])
transcript = run_tool_loop(model.bind_tools(tools), tools, "do it")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import Field

__all__ = ["ScriptedChatModel", "arun_tool_loop", "run_tool_loop"]


class ScriptedChatModel(GenericFakeChatModel):
    """``GenericFakeChatModel`` that accepts ``bind_tools`` (and remembers the tools it was shown)."""

    bound_tools: list[Any] = Field(default_factory=list)

    def __init__(self, turns: Sequence[AIMessage | str], **kwargs: Any) -> None:
        super().__init__(messages=iter(list(turns)), **kwargs)

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        self.bound_tools = list(tools)
        return self


def run_tool_loop(
    model: Runnable[Any, Any], tools: Sequence[BaseTool], prompt: str, max_turns: int = 10
) -> list[BaseMessage]:
    """Ask ``model``, run each tool call it makes, feed the results back, until it stops calling tools."""
    by_name = {t.name: t for t in tools}
    messages: list[BaseMessage] = [HumanMessage(prompt)]
    for _ in range(max_turns):
        reply = model.invoke(messages)
        messages.append(reply)
        if not getattr(reply, "tool_calls", None):
            break
        for call in reply.tool_calls:
            tool = by_name.get(call["name"])
            if tool is None:
                messages.append(
                    ToolMessage(f"no tool named {call['name']!r}", tool_call_id=call["id"], status="error")
                )
                continue
            messages.append(tool.invoke(call))
    return messages


async def arun_tool_loop(
    model: Runnable[Any, Any], tools: Sequence[BaseTool], prompt: str, max_turns: int = 10
) -> list[BaseMessage]:
    """The async form of :func:`run_tool_loop` (tools run with ``ainvoke``)."""
    by_name = {t.name: t for t in tools}
    messages: list[BaseMessage] = [HumanMessage(prompt)]
    for _ in range(max_turns):
        reply = await model.ainvoke(messages)
        messages.append(reply)
        if not getattr(reply, "tool_calls", None):
            break
        for call in reply.tool_calls:
            tool = by_name.get(call["name"])
            if tool is None:
                messages.append(
                    ToolMessage(f"no tool named {call['name']!r}", tool_call_id=call["id"], status="error")
                )
                continue
            messages.append(await tool.ainvoke(call))
    return messages
