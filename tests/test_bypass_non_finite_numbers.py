"""NaN and the infinities: numbers no JSON number holds, and that comparisons cannot decide on.

Every comparison with NaN is false, so ``gt(amount, 2500), deny`` and ``le(amount, 0), deny`` both
let ``pay(amount: float)`` run with ``nan`` (the AgentDojo banking pack's limits among them);
``-inf`` passes ``lt(amount, 100), allow``. ``json.loads`` reads ``NaN`` and ``-Infinity`` from a
model's tool-call text, and pydantic's ``float`` takes them. The decided (JSON) form has no such
number: a call carrying one, at any depth, is now refused before the policy decides.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agentguard import Guard, InvalidArguments
from tests.rules_guard import guard_on_rules

RULES = """
p, *, *, *, allow
p, *, pay, gt(amount, 2500), deny
p, *, pay, le(amount, 0), deny
p, *, pay_any, gt(amount, 2500) || le(amount, 0), deny
p, *, pay_many, gt(amounts.0, 2500) || le(amounts.0, 0), deny
p, *, pay_order, gt(order.total, 2500) || le(order.total, 0), deny
p, *, pay_decimal, gt(amount, 2500) || le(amount, 0), deny
"""

ran: list[object] = []


class Order(BaseModel):
    total: float


def pay(amount: float) -> str:
    ran.append(amount)
    return "paid"


def pay_any(amount: Any) -> str:
    ran.append(amount)
    return "paid"


def pay_many(amounts: list[float]) -> str:
    ran.append(amounts)
    return "paid"


def pay_order(order: Order) -> str:
    ran.append(order)
    return "paid"


def pay_decimal(amount: Decimal) -> str:
    ran.append(amount)
    return "paid"


@pytest.fixture
def guard(tmp_path: Path) -> Iterator[Guard]:
    guard = guard_on_rules(tmp_path, RULES, (pay, pay_any, pay_many, pay_order, pay_decimal))
    ran.clear()
    yield guard
    guard.close()


NON_FINITE = ["NaN", "Infinity", "-Infinity"]


@pytest.mark.parametrize("text", NON_FINITE)
@pytest.mark.parametrize(
    ("tool", "template"),
    [
        ("pay", '{"amount": %s}'),
        ("pay_any", '{"amount": %s}'),
        ("pay_many", '{"amounts": [%s]}'),
        ("pay_order", '{"order": {"total": %s}}'),
    ],
)
def test_a_non_finite_number_is_refused(guard: Guard, tool: str, template: str, text: str) -> None:
    arguments = json.loads(template % text)  # what an agent loop reads from the model's text
    with pytest.raises(InvalidArguments, match="NaN"):
        guard.call(tool, arguments)
    assert ran == []


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_a_non_finite_decimal_is_refused(guard: Guard, value: str) -> None:
    with pytest.raises(InvalidArguments):
        guard.call("pay_decimal", {"amount": value})
    assert ran == []


def test_finite_numbers_still_decide(guard: Guard) -> None:
    assert guard.call("pay", {"amount": 12.5}) == "paid"
    assert guard.call("pay_any", {"amount": {"nested": [1.5, "NaN"]}}) == "paid"  # a string is a string
    assert ran == [12.5, {"nested": [1.5, "NaN"]}]


class Float64(float):
    """A float subclass, as ``numpy.float64`` is: an ``Any`` field keeps it, and dumps NaN as null."""


@pytest.mark.parametrize(
    "amount",
    [
        Float64("nan"),
        Float64("-inf"),
        {float("nan")},
        frozenset({Float64("inf")}),
        [{"x": Float64("nan")}],
        (1.0, float("-inf")),
    ],
)
def test_a_non_finite_float_subclass_or_set_member_is_refused(guard: Guard, amount: Any) -> None:
    """The caller's arguments are walked too (an ``Any`` field's JSON form has ``null`` for them):
    a float subclass and a set's members are numbers there as well."""
    with pytest.raises(InvalidArguments, match="NaN"):
        guard.call("pay_any", {"amount": amount})
    assert ran == []
