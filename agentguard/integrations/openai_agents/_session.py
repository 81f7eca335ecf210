"""One guard session per agent run: ``await run_in_session(guard, agent, prompt)``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agents import Agent, Runner
from agents.result import RunResult

from agentguard.guard import Guard
from agentguard.integrations.openai_agents._tools import FRAMEWORK

__all__ = ["run_in_session", "user_text"]


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
    async with guard.session(user_request=request, vouched=vouched, framework=FRAMEWORK):
        return await Runner.run(agent, run_input, **runner_kwargs)
