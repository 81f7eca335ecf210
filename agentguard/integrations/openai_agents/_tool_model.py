"""What a ``@function_tool``'s own pydantic model makes of the decided arguments.

The guard decides on the model's JSON arguments, checked against ``params_json_schema``; the tool
then parses them with its pydantic model, whose validators the schema cannot express (one that
percent-decodes, ``StringConstraints(to_lower=True)``, ``strip_whitespace``): ``"RM"`` was decided
and ``"rm"`` ran. A call whose arguments that model turns into other values is refused.
"""

from __future__ import annotations

from typing import Any

from agents import FunctionTool
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from agentguard._stable_arguments import first_change
from agentguard.errors import InvalidArguments
from agentguard.registry import numbers_in_json
from agentguard.secret_arguments import holds_secret, reveal

__all__ = ["check_unchanged", "tool_model"]


def tool_model(tool: FunctionTool) -> type[BaseModel] | None:
    """The arguments model ``function_tool`` built for ``tool``, read from the SDK's invoker (0.2x
    keeps it in the closure of ``_invoke_tool_impl``); ``None`` for a tool made another way."""
    impl = getattr(tool.on_invoke_tool, "_invoke_tool_impl", None)
    code, cells = getattr(impl, "__code__", None), getattr(impl, "__closure__", None)
    if code is None or not cells:
        return None
    for name, cell in zip(code.co_freevars, cells, strict=False):
        if name == "schema":
            model = getattr(cell.cell_contents, "params_pydantic_model", None)
            if isinstance(model, type) and issubclass(model, BaseModel):
                return model
    return None


def check_unchanged(tool: str, model: type[BaseModel], decided: dict[str, Any]) -> None:
    """Refuse ``decided`` when ``model`` parses it into values whose JSON form is not ``decided``."""
    try:
        parsed = model.model_validate(decided)
    except ValidationError:
        return  # the tool's own parsing refuses it too: nothing runs
    values = {name: getattr(parsed, name) for name in type(parsed).model_fields}
    shown = to_jsonable_python(values, fallback=str)
    if holds_secret(values):
        shown = reveal(values, shown)[0]
    shown = numbers_in_json(values, shown)
    where = first_change({k: v for k, v in decided.items() if k in shown}, shown, unshown=True)
    if where is not None:
        raise InvalidArguments(
            f"invalid arguments for {tool}: {where}: the tool's own model parses the decided value into "
            "another (a validator the schema does not show); cannot run what was decided",
            tool=tool,
            field=where,
        )
