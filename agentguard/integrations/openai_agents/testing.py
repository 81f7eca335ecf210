"""A scripted stand-in for an LLM, so Agents SDK runs can be tested without a network.

model = ScriptedModel([tool_call("write_file", {"path": "a.txt"}), "done"])
result = await Runner.run(Agent(name="a", model=model, tools=tools), "go")
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import orjson
from agents.items import ModelResponse, TResponseInputItem
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

__all__ = ["ScriptedModel", "tool_call"]

_ids = itertools.count(1)


def tool_call(name: str, arguments: dict[str, Any] | str) -> ResponseFunctionToolCall:
    """One function call the model makes; ``arguments`` may be raw (even malformed) JSON text."""
    raw = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
    n = next(_ids)
    return ResponseFunctionToolCall(
        type="function_call", name=name, arguments=raw, call_id=f"call_{n}", id=f"fc_{n}"
    )


def _message(text: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id=f"msg_{next(_ids)}",
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
    )


Turn = str | ResponseFunctionToolCall | Sequence[ResponseFunctionToolCall]


class ScriptedModel(Model):
    """Answers each model request with the next scripted turn: text (final output) or tool call(s).

    Every request's input items are kept in ``inputs``, so a test can read the tool outputs the
    model was shown.
    """

    def __init__(self, turns: Iterable[Turn]) -> None:
        self._turns = list(turns)
        self.inputs: list[list[TResponseInputItem]] = []

    async def get_response(
        self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
    ) -> ModelResponse:
        self.inputs.append(list(input) if not isinstance(input, str) else [])
        turn = self._turns.pop(0) if self._turns else "(script finished)"
        if isinstance(turn, str):
            output: list[Any] = [_message(turn)]
        elif isinstance(turn, ResponseFunctionToolCall):
            output = [turn]
        else:
            output = list(turn)
        return ModelResponse(output=output, usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError("ScriptedModel does not stream; use Runner.run")

    def tool_outputs(self) -> list[str]:
        """The function-call outputs the model has been shown so far, in order."""
        seen: list[str] = []
        last = self.inputs[-1] if self.inputs else []
        for item in last:
            if isinstance(item, dict) and item.get("type") == "function_call_output":
                seen.append(str(item.get("output")))
        return seen
