"""Guarded OpenAI Agents SDK function tools: the runner calls them as before, the guard decides first."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable
from typing import Any, Literal

import orjson
from agents import FunctionTool
from agents.tool_context import ToolContext

from agentguard.errors import AgentGuardError, CallRejected, InvalidArguments, ToolFailed
from agentguard.guard import Guard
from agentguard.integrations._arguments import (
    MAX_ARGUMENT_BYTES,
    check_size,
    json_schema_model,
    rejection_text,
)
from agentguard.integrations.openai_agents._output import shown_output
from agentguard.integrations.openai_agents._tool_model import check_unchanged, tool_model
from agentguard.models import canonical_tool_name
from agentguard.session._redacted_errors import redacted_error

__all__ = ["FRAMEWORK", "guard_function_tools"]

FRAMEWORK = "openai-agents"
OnDeny = Literal["return", "raise"]


_INT_RANGE = (-(2**63), 2**64 - 1)  # what the guard's JSON (orjson) carries exactly


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a key is given twice")
    return out


def _integer(text: str) -> int:
    value = int(text)
    if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
        raise ValueError(f"the integer {text[:40]} is past 64 bits")
    return value


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def read_arguments(raw: str) -> Any:
    """The model's arguments text as the SDK reads it (``json.loads``, which the tool's own parsing
    uses), refusing what a reader could take two ways or the guard could only decide on rounded: a
    key given twice, an integer past 64 bits, a number out of float range, ``NaN``/``Infinity``."""
    return json.loads(
        raw, object_pairs_hook=_pairs, parse_int=_integer, parse_float=_finite, parse_constant=_constant
    )


def _guard_one(
    guard: Guard,
    original: FunctionTool,
    *,
    on_deny: OnDeny,
    agent: str | None,
    prefix: str,
    max_argument_bytes: int,
) -> FunctionTool:
    policy_name = canonical_tool_name(prefix + original.name)
    invoke_original = original.on_invoke_tool
    own_model = tool_model(original)

    async def outside_runner(**_arguments: Any) -> Any:
        raise RuntimeError(f"{original.name}: the guarded tool was run outside the Agents SDK runner")

    guard.register(
        policy_name,
        outside_runner,
        description=original.description,
        args_model=json_schema_model(
            policy_name, original.params_json_schema, pydantic=True, json_text=_from_mcp(original)
        ),
    )

    def refused(error: AgentGuardError) -> str:
        if on_deny == "raise":
            raise error
        return rejection_text(error)

    async def on_invoke_tool(ctx: ToolContext[Any], raw: str) -> Any:
        try:
            check_size(policy_name, raw, max_argument_bytes)
            parsed = read_arguments(raw) if raw.strip() else {}
            if not isinstance(parsed, dict):
                kind = type(parsed).__name__
                raise InvalidArguments(
                    f"invalid arguments for {policy_name}: expected a JSON object, got {kind}",
                    tool=policy_name,
                )
        except (InvalidArguments, ValueError, RecursionError) as exc:
            error = (
                exc
                if isinstance(exc, InvalidArguments)
                else InvalidArguments(
                    f"invalid arguments for {policy_name}: not JSON the guard can read exactly ({exc})",
                    tool=policy_name,
                )
            )
            guard.reject(
                policy_name, None, error, framework=FRAMEWORK, agent=agent, argument_bytes=len(raw.encode())
            )
            return refused(error)

        async def run_original(**arguments: Any) -> Any:
            # The model's own JSON text when the decided arguments are what it sent, else the edit.
            payload = raw if arguments == parsed else orjson.dumps(arguments).decode()
            if own_model is not None:
                check_unchanged(policy_name, own_model, arguments)
            return shown_output(original, ctx, await invoke_original(ctx, payload))

        try:
            return await guard.acall(
                policy_name, parsed, agent=agent, framework=FRAMEWORK, invoke=run_original
            )
        except CallRejected as exc:
            return refused(exc)
        except ToolFailed as exc:
            # the tool's own exception (the type the app expects) with the tool's redaction applied;
            # the guard's ToolFailed (its text redacted) when no clean copy can be made
            cause = exc.__cause__
            shown = redacted_error(guard.policy, policy_name, cause) if cause is not None else None
            raise (shown or exc) from None

    return dataclasses.replace(original, on_invoke_tool=on_invoke_tool)


def guard_function_tools(
    guard: Guard,
    tools: Iterable[FunctionTool | Callable[..., Any]],
    *,
    on_deny: OnDeny = "return",
    agent: str | None = None,
    prefix: str = "",
    max_argument_bytes: int = MAX_ARGUMENT_BYTES,
) -> list[FunctionTool]:
    """Register each function tool with ``guard``; return copies whose invocations go through it.

    Pass ``@function_tool`` functions or ``FunctionTool`` objects (plain functions are wrapped with
    ``function_tool`` first). Each is named ``prefix + tool.name`` in policy and its arguments are
    checked against the tool's ``params_json_schema``. A refused call returns the reason to the
    model as the tool output (``on_deny="return"``), or raises the ``CallRejected`` error, which
    ends the run (``on_deny="raise"``). Arguments the model sends that are not a JSON object, or
    larger than ``max_argument_bytes``, are refused and audited the same way.
    """
    if on_deny not in ("return", "raise"):
        raise ValueError(f"on_deny must be 'return' or 'raise', not {on_deny!r}")
    from agents import function_tool

    out: list[FunctionTool] = []
    for item in tools:
        original = item if isinstance(item, FunctionTool) else function_tool(item)
        if not isinstance(original, FunctionTool):
            raise TypeError(f"{item!r} is not a FunctionTool")
        out.append(
            _guard_one(
                guard,
                original,
                on_deny=on_deny,
                agent=agent,
                prefix=prefix,
                max_argument_bytes=max_argument_bytes,
            )
        )
    return out


def _from_mcp(tool: FunctionTool) -> bool:
    """Whether ``tool`` forwards to an MCP server (``MCPUtil``): such a server may read a string
    argument as the JSON it spells, so the guard refuses text it could read either way."""
    from agents.tool import ToolOriginType, get_function_tool_origin

    origin = get_function_tool_origin(tool)
    return origin is not None and origin.type is ToolOriginType.MCP
