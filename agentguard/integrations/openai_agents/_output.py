"""A function tool's output in the form the Agents SDK sends the model, so the guard reads, marks and
redacts exactly that text: the SDK's own conversion (``ItemHelpers.tool_call_output_item``: text as it
is, a typed output schema's JSON, structured outputs by their fields, anything else ``str()``)."""

from __future__ import annotations

from typing import Any

from agents import FunctionTool
from agents.items import ItemHelpers
from openai.types.responses import ResponseFunctionToolCall

__all__ = ["shown_output"]


def shown_output(tool: FunctionTool, ctx: Any, output: Any) -> Any:
    """``output`` as the text the SDK will send for it; structured outputs (images, files, text parts)
    as they are (the SDK sends their fields, which the guard reads); an output the SDK refuses (not
    matching the tool's output schema) as it is: the SDK fails the call, nothing reaches the model."""
    schema = getattr(tool, "output_json_schema", None)
    adapter = getattr(tool, "_output_type_adapter", None)
    if type(output) is str and schema is None and adapter is None:
        return output
    call = getattr(ctx, "tool_call", None)
    if not isinstance(call, ResponseFunctionToolCall):
        call = ResponseFunctionToolCall(type="function_call", name=tool.name, arguments="{}", call_id="")
    options: dict[str, Any] = {}
    if schema is not None:
        options["output_json_schema"] = schema
    if adapter is not None:
        options["output_type_adapter"] = adapter
    try:
        item = ItemHelpers.tool_call_output_item(call, output, **options)
    except Exception:  # noqa: BLE001 - the SDK refuses this output too: it fails the call itself
        return output
    shown = item.get("output")
    return shown if isinstance(shown, str) else output
