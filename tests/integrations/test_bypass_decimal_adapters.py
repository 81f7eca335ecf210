"""A ``Decimal`` argument of a framework tool is decided as the number the tool reads.

pydantic's JSON schema of a ``Decimal`` accepts a number or a numeric string. The tool (LangChain,
the Agents SDK) turns ``"5000"`` into ``Decimal("5000")``, but the policy saw the string, which
``gt(amount, 1000)`` never matches: the deny did not fire and 5000 was paid (through LangChain even
when the model sent the number, which LangChain parses and the adapter re-serialises as text).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

import orjson
import pytest
from agents import function_tool
from langchain_core.tools import tool
from pydantic import BaseModel

from agentguard import Guard
from agentguard.integrations import json_schema_model
from agentguard.integrations.langchain import guard_tools
from agentguard.integrations.openai_agents import guard_function_tools

from .conftest import invoke_agents_tool

RULES = """
p, *, *, *, allow
p, *, pay, gt(amount, 1000), deny
p, *, pay_oa, gt(amount, 1000), deny
"""

paid: list[Decimal] = []


@tool
def pay(amount: Decimal) -> str:
    """Pay an amount."""
    paid.append(amount)
    return f"paid {amount}"


@function_tool
def pay_oa(amount: Decimal) -> str:
    """Pay an amount."""
    paid.append(amount)
    return f"paid {amount}"


@pytest.mark.parametrize("amount", ["5000", 5000, "1000.5"])
def test_langchain_decimal_over_the_limit_is_denied(make_guard: Callable[..., Guard], amount: Any) -> None:
    (guarded,) = guard_tools(make_guard(RULES), [pay])
    paid.clear()
    assert "policy.denied" in guarded.invoke({"amount": amount})
    assert paid == []
    assert guarded.invoke({"amount": "999.5"}) == "paid 999.5"
    assert paid == [Decimal("999.5")]


async def _invoke(guarded: Any, arguments: dict[str, Any]) -> Any:
    return await invoke_agents_tool(guarded, orjson.dumps(arguments).decode())


async def test_agents_sdk_decimal_text_over_the_limit_is_denied(make_guard: Callable[..., Guard]) -> None:
    (guarded,) = guard_function_tools(make_guard(RULES), [pay_oa])
    paid.clear()
    assert "policy.denied" in await _invoke(guarded, {"amount": "5000"})
    assert paid == []
    assert await _invoke(guarded, {"amount": "12.25"}) == "paid 12.25"
    assert paid == [Decimal("12.25")]


async def test_a_decimal_no_number_holds_exactly_is_refused(make_guard: Callable[..., Guard]) -> None:
    (guarded,) = guard_function_tools(make_guard(RULES), [pay_oa])
    paid.clear()
    answer = await _invoke(guarded, {"amount": "1000.0000000000000000001"})
    assert "invalid_arguments" in answer or "refused" in answer
    assert paid == []


@tool
def wait(duration: timedelta) -> str:
    """Wait."""
    return f"waited {duration.total_seconds():g}s"


def test_langchain_timedelta_over_the_limit_is_denied(make_guard: Callable[..., Guard]) -> None:
    (guarded,) = guard_tools(make_guard("p, *, *, *, allow\np, *, wait, gt(duration, 60), deny"), [wait])
    assert "policy.denied" in guarded.invoke({"duration": "PT2H"})


@function_tool
def wait_oa(duration: timedelta) -> str:
    """Wait."""
    waited.append(duration)
    return f"waited {duration.total_seconds():g}s"


waited: list[timedelta] = []
DURATION_RULES = (
    "p, *, *, *, allow\np, *, wait, gt(duration, 60), deny\np, *, wait_oa, gt(duration, 60), deny"
)


@pytest.mark.parametrize("duration", ["PT2H", "02:00:00", "P1D", 7200, 3600.5])
def test_langchain_duration_over_the_limit_is_denied(make_guard: Callable[..., Guard], duration: Any) -> None:
    (guarded,) = guard_tools(make_guard(DURATION_RULES), [wait])
    assert "policy.denied" in guarded.invoke({"duration": duration})
    assert guarded.invoke({"duration": "PT30S"}) == "waited 30s"


@pytest.mark.parametrize("duration", ["PT2H", "01:01:00", 7200])
async def test_agents_sdk_duration_over_the_limit_is_denied(
    make_guard: Callable[..., Guard], duration: Any
) -> None:
    (guarded,) = guard_function_tools(make_guard(DURATION_RULES), [wait_oa])
    waited.clear()
    assert "policy.denied" in await _invoke(guarded, {"duration": duration})
    assert waited == []
    assert await _invoke(guarded, {"duration": "PT0.5S"}) == "waited 0.5s"
    assert waited == [timedelta(seconds=0.5)]


async def test_a_duration_is_passed_on_as_the_seconds_decided(make_guard: Callable[..., Guard]) -> None:
    (guarded,) = guard_function_tools(make_guard(DURATION_RULES), [wait_oa])
    waited.clear()
    assert await _invoke(guarded, {"duration": "PT45S"}) == "waited 45s"
    assert waited == [timedelta(seconds=45)]


@tool
def scale(factor: Fraction) -> str:
    """Scale."""
    scaled.append(factor)
    return f"scaled {factor}"


@function_tool
def scale_oa(factor: Fraction) -> str:
    """Scale."""
    scaled.append(factor)
    return f"scaled {factor}"


scaled: list[Fraction] = []
FRACTION_RULES = "p, *, *, *, allow\np, *, scale, gt(factor, 10), deny\np, *, scale_oa, gt(factor, 10), deny"


@pytest.mark.parametrize("factor", ["21/2", "5000", 11])
def test_langchain_fraction_over_the_limit_is_denied(make_guard: Callable[..., Guard], factor: Any) -> None:
    (guarded,) = guard_tools(make_guard(FRACTION_RULES), [scale])
    scaled.clear()
    assert "policy.denied" in guarded.invoke({"factor": factor})
    assert scaled == []
    assert guarded.invoke({"factor": "19/2"}) == "scaled 19/2"
    assert scaled == [Fraction(19, 2)]


async def test_agents_sdk_fraction_over_the_limit_is_denied(make_guard: Callable[..., Guard]) -> None:
    (guarded,) = guard_function_tools(make_guard(FRACTION_RULES), [scale_oa])
    scaled.clear()
    assert "policy.denied" in await _invoke(guarded, {"factor": "21/2"})
    assert "refused" in await _invoke(guarded, {"factor": "1/3"})  # no JSON number holds it exactly
    assert scaled == []


class Card(BaseModel):
    kind: Literal["card"] = "card"
    amount: Decimal


class Transfer(BaseModel):
    iban: str
    amount: Decimal


@tool
def settle(payment: Card | Transfer) -> str:
    """Settle a payment."""
    paid.append(payment.amount)
    return f"settled {payment.amount}"


UNION_RULES = "p, *, *, *, allow\np, *, settle, gt(payment.amount, 1000), deny"


@pytest.mark.parametrize(
    "payment",
    [
        {"amount": "5000"},
        {"iban": "DE89370400440532013000", "amount": "5000"},
        {"kind": "card", "amount": "5000.00"},
    ],
)
def test_a_decimal_inside_a_union_of_models_is_a_number(
    make_guard: Callable[..., Guard], payment: Any
) -> None:
    # {"anyOf": [{"$ref": Card}, {"$ref": Transfer}]}: the amount was decided as text below the union
    (guarded,) = guard_tools(make_guard(UNION_RULES), [settle])
    paid.clear()
    assert "policy.denied" in guarded.invoke({"payment": payment})
    assert paid == []
    assert guarded.invoke({"payment": {"amount": "12.5"}}) == "settled 12.5"
    assert paid == [Decimal("12.5")]


def test_alternatives_that_read_a_value_differently_are_refused() -> None:
    decimal = Card.model_json_schema()["properties"]["amount"]
    schema = {
        "type": "object",
        "properties": {
            "x": {
                "anyOf": [
                    {"type": "object", "properties": {"v": decimal}},
                    {"type": "object", "properties": {"v": {"type": "string"}}},
                ]
            }
        },
    }
    model = json_schema_model("t", schema)
    with pytest.raises(ValueError, match="read differently"):
        model.model_validate({"x": {"v": "5000"}})
    assert model.model_validate({"x": {"v": 5000}}).model_dump() == {"x": {"v": 5000}}


@tool
def spread(amounts: dict[str, Decimal], pair: tuple[Decimal, Decimal] = (Decimal(0), Decimal(0))) -> str:
    """Spread amounts."""
    paid.append(amounts)
    return "spread"


SPREAD_RULES = "p, *, *, *, allow\np, *, spread, gt(amounts.a, 1000) || gt(pair.0, 1000), deny"


@pytest.mark.parametrize(
    "arguments",
    [{"amounts": {"a": 5000}}, {"amounts": {"a": "5000"}}, {"amounts": {"b": 1}, "pair": ["5000", "1"]}],
)
def test_decimals_in_a_mapping_or_a_tuple_are_numbers(
    make_guard: Callable[..., Guard], arguments: Any
) -> None:
    # dict values (additionalProperties), tuple places (prefixItems): decided as text (found by the review)
    (guarded,) = guard_tools(make_guard(SPREAD_RULES), [spread])
    paid.clear()
    assert "policy.denied" in guarded.invoke(arguments)
    assert paid == []
    assert guarded.invoke({"amounts": {"a": "12"}, "pair": ["1", "2"]}) == "spread"
