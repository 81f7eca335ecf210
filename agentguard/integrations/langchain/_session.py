"""One guard session per LangChain run: ``with_session(guard, agent_executor).invoke(...)``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from agentguard.guard import Guard
from agentguard.integrations.langchain._tools import FRAMEWORK

__all__ = ["earlier_text", "user_text", "with_session"]


def user_text(run_input: Any) -> str | None:
    """The user's words in a run's input: a string, ``{"input": ...}``/``{"question": ...}``, or the
    human messages of ``{"messages": [...]}`` / a message list."""
    if isinstance(run_input, str):
        return run_input
    if isinstance(run_input, BaseMessage):
        return (
            run_input.content
            if isinstance(run_input, HumanMessage) and isinstance(run_input.content, str)
            else None
        )
    if isinstance(run_input, Mapping):
        for key in ("input", "question", "query"):
            if isinstance(run_input.get(key), str):
                return str(run_input[key])
        run_input = run_input.get("messages")
    if isinstance(run_input, list):
        texts = [user_text(m) for m in run_input if isinstance(m, HumanMessage)]
        texts += [
            m[1] for m in run_input if isinstance(m, tuple) and len(m) == 2 and m[0] in ("human", "user")
        ]
        return "\n".join(t for t in texts if t) or None
    return None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(c.get("text")) if isinstance(c, Mapping) else str(c) for c in content if c)
    return str(content) if content else ""


def earlier_text(run_input: Any) -> list[str]:
    """What a run's input holds besides the user's words and the system prompt: earlier tool results
    and model replies of a continued conversation (the model has read them; a third party may have
    written them)."""
    if isinstance(run_input, Mapping):
        run_input = run_input.get("messages")
    if not isinstance(run_input, list):
        return []
    texts: list[str] = []
    for m in run_input:
        if isinstance(m, BaseMessage) and not isinstance(m, HumanMessage | SystemMessage):
            texts.append(_text_of(m.content))
        elif isinstance(m, tuple) and len(m) == 2 and m[0] not in ("human", "user", "system"):
            texts.append(_text_of(m[1]))
    return [t for t in texts if t]


def with_session(
    guard: Guard,
    runnable: Runnable[Any, Any],
    *,
    user_request: Callable[[Any], str | None] = user_text,
    vouched: Iterable[Any] | Mapping[str, Any] = (),
) -> Runnable[Any, Any]:
    """``runnable`` whose every ``invoke``/``ainvoke`` runs in a fresh guard session.

    ``user_request(input)`` picks the user's own words out of the input (default: :func:`user_text`);
    tools called during the run (in this thread, in LangChain's executor threads, in child tasks)
    are recorded in that session.
    """

    def run(run_input: Any, config: RunnableConfig) -> Any:
        with guard.session(
            user_request=user_request(run_input), vouched=vouched, framework=FRAMEWORK
        ) as session:
            session.read_earlier(earlier_text(run_input))
            return runnable.invoke(run_input, config)

    async def arun(run_input: Any, config: RunnableConfig) -> Any:
        async with guard.session(
            user_request=user_request(run_input), vouched=vouched, framework=FRAMEWORK
        ) as session:
            session.read_earlier(earlier_text(run_input))
            return await runnable.ainvoke(run_input, config)

    return RunnableLambda(run, afunc=arun, name=f"guard_session({runnable.get_name()})")
