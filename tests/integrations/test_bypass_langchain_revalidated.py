"""LangChain: when deciding changes the arguments (a ``path()`` rule resolves a path), the original
is called with the decided arguments parsed again by its ``args_schema``. A validator that is not
idempotent (one that percent-decodes) then peeled another layer: ``"secre%2574.txt"`` was decided
as ``{workspace}/secre%74.txt`` (not the denied ``secret.txt``) and read as
``{workspace}/secret.txt``. Such a call is now refused, naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import unquote

import pytest
from langchain_core.tools import StructuredTool
from pydantic import AfterValidator, BaseModel

from agentguard import Guard
from agentguard.integrations.langchain import guard_tools

RAN: list[Any] = []

RULES = """
p, *, read, *, allow
p, *, read, path(path, "{workspace}/secret.txt"), deny
"""


class ReadArgs(BaseModel):
    path: Annotated[str, AfterValidator(unquote)]


def _read(path: str) -> str:
    RAN.append(path)
    return "read"


read = StructuredTool.from_function(_read, name="read", description="Read a file.", args_schema=ReadArgs)


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_value_the_original_parses_differently_is_refused(
    make_guard: Callable[..., Guard], is_async: bool
) -> None:
    guard = make_guard(RULES)
    (guarded,) = guard_tools(guard, [read])
    call = {"path": "secre%2574.txt"}
    result = await guarded.arun(call) if is_async else guarded.run(call)
    assert RAN == []
    assert "path: the tool's schema parses the decided value into another" in str(result)


def test_the_decoded_path_is_still_denied(make_guard: Callable[..., Guard]) -> None:
    guard = make_guard(RULES)
    (guarded,) = guard_tools(guard, [read])
    assert "[policy.denied]" in str(guarded.run({"path": "secre%74.txt"}))
    assert RAN == []
