"""The Agents SDK: the guard reads the model's JSON arguments exactly as the tool will (found by the
red team). The guard parsed them with orjson, which reads an integer past 64 bits as the nearest
float, while the SDK (``json.loads``) reads it exactly: ``18446744073709551617`` was decided as
``2**64``, so ``gt(amount, 18446744073709551616), deny`` let it run, and an allow for one large id
(``eq``) covered its neighbours. Such numbers, and text the two parsers could read differently
(a key given twice, ``NaN``, a number out of float range), are now refused before anything is decided.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from agents import function_tool
from langchain_core.tools import tool

from agentguard import Guard
from agentguard.integrations.langchain import guard_tools
from agentguard.integrations.openai_agents import guard_function_tools

from .conftest import audit_records, invoke_agents_tool

RULES = """
p, *, *, *, allow
p, *, transfer, gt(amount, 18446744073709551616), deny
p, *, transfer_lc, gt(amount, 18446744073709551616), deny
"""

SENT: list[Any] = []


@function_tool
def transfer(amount: int, note: str = "") -> str:
    """Transfer an amount."""
    SENT.append(amount)
    return f"sent {amount}"


@tool
def transfer_lc(amount: int) -> str:
    """Transfer an amount."""
    SENT.append(amount)
    return f"sent {amount}"


@pytest.fixture(autouse=True)
def _clear() -> None:
    SENT.clear()


invoke = invoke_agents_tool


@pytest.mark.parametrize(
    "raw",
    [
        '{"amount": 18446744073709551617, "note": ""}',  # orjson: 2**64 (a float), json: exact
        '{"amount": -9223372036854775809, "note": ""}',
        '{"amount": 5, "note": "x", "amount": 5}',  # a key given twice
        '{"amount": 5, "note": "x", "note": "y"}',
        '{"amount": 1e400, "note": ""}',  # out of float range: json reads inf
        '{"amount": NaN, "note": ""}',
        '{"amount": Infinity, "note": ""}',
        '{"amount": 5, "note": "", "deep": ' + "[" * 200_000 + "]" * 200_000 + "}",  # past recursion
    ],
)
async def test_text_the_parsers_could_read_differently_is_refused(
    make_guard: Callable[..., Guard], audit_path: Any, raw: str
) -> None:
    guard = make_guard(RULES)
    (guarded,) = guard_function_tools(guard, [transfer])
    answer = await invoke(guarded, raw)
    assert "[call.invalid_arguments]" in answer
    assert SENT == []
    guard.close()
    events = [r["event"] for r in audit_records(audit_path)]
    assert events == ["call.received", "call.rejected"]


async def test_ordinary_numbers_still_run(make_guard: Callable[..., Guard]) -> None:
    (guarded,) = guard_function_tools(make_guard(RULES), [transfer])
    assert await invoke(guarded, '{"amount": 9223372036854775807, "note": ""}') == "sent 9223372036854775807"
    assert await invoke(guarded, '{"amount": 1e3, "note": ""}') == "sent 1000"
    assert SENT == [9223372036854775807, 1000]


def test_langchain_refuses_an_integer_past_64_bits(make_guard: Callable[..., Guard]) -> None:
    # LangChain's chat models read the model's JSON with json.loads (exact): the guard refuses what it
    # cannot carry exactly rather than deciding on a rounding
    (guarded,) = guard_tools(make_guard(RULES), [transfer_lc])
    answer = guarded.invoke({"amount": 18446744073709551617})
    assert "refused" in str(answer)
    assert SENT == []
