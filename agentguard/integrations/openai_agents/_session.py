"""One guard session per agent run: ``await run_in_session(guard, agent, prompt)``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from agents import Agent, Runner
from agents.result import RunResult

from agentguard.guard import Guard
from agentguard.integrations.openai_agents._tools import FRAMEWORK

__all__ = ["earlier_text", "run_in_session", "user_text"]


def user_text(run_input: Any) -> str | None:
    """The user's words in a run's input: the string itself, or the user messages' text joined."""
    if isinstance(run_input, str):
        return run_input
    parts: list[str] = []
    if isinstance(run_input, list):
        for item in run_input:
            if isinstance(item, Mapping) and item.get("role") == "user":
                content = item.get("content")
                if isinstance(content, str):
                    parts.append(content)
                elif isinstance(content, list):
                    parts.extend(
                        str(c.get("text")) for c in content if isinstance(c, Mapping) and c.get("text")
                    )
    return "\n".join(parts) or None


def earlier_text(run_input: Any) -> list[str]:
    """What a run's input holds besides the user's words and instructions: earlier tool outputs
    (``*_output`` items) and assistant replies of a continued conversation (``to_input_list()``)."""
    if not isinstance(run_input, list):
        return []
    texts: list[str] = []
    for item in run_input:
        if not isinstance(item, Mapping) or item.get("role") in ("user", "system", "developer"):
            continue
        if item.get("role") == "assistant":
            content = item.get("content")
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts.extend(str(c.get("text")) for c in content if isinstance(c, Mapping) and c.get("text"))
        elif str(item.get("type", "")).endswith("_output"):
            output = item.get("output")
            texts.append(output if isinstance(output, str) else json.dumps(output, default=str))
    return [t for t in texts if t]


async def run_in_session(
    guard: Guard,
    agent: Agent[Any],
    run_input: Any,
    *,
    user_request: str | None = None,
    vouched: Iterable[Any] | Mapping[str, Any] = (),
    **runner_kwargs: Any,
) -> RunResult:
    """``Runner.run(agent, run_input, ...)`` inside one guard session.

    The session's user request is ``user_request`` or, when not given, the user's text in
    ``run_input`` (what the model did not write). Every guarded tool the run calls is recorded in it.
    """
    request = user_request if user_request is not None else user_text(run_input)
    async with guard.session(user_request=request, vouched=vouched, framework=FRAMEWORK) as session:
        session.read_earlier(earlier_text(run_input))
        return await Runner.run(agent, run_input, **runner_kwargs)
