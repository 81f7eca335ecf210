"""Numbers the JSON form spells as text: the policy must compare the number the tool gets.

A ``Decimal`` parameter's JSON form is ``"5000"`` and a ``timedelta``'s ``"PT1H23M20S"``. The
comparisons (``gt``, ``lt``, ``between``, ``eq`` with a number) never match a string, so
``gt(amount, 1000), deny`` did not fire while ``pay(amount: Decimal)`` paid 5000. The decided
(JSON) form now carries such values as numbers (a ``timedelta`` as its seconds), nested ones too,
and a value that no JSON number holds exactly is refused rather than decided on a rounding.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from pydantic import BaseModel

from agentguard import Guard, InvalidArguments, PolicyDenied, Settings
from agentguard.testing import MemoryAudit, ScriptedApprover
from tests.rules_guard import guard_on_rules

PERMISSIONS = Path(__file__).resolve().parent.parent / "permissions"

RULES = """
p, *, *, *, allow
p, *, pay, gt(amount, 1000), deny
p, *, pay_many, gt(amounts.1, 1000), deny
p, *, pay_order, gt(order.total, 1000), deny
p, *, wait, gt(duration, 60), deny
p, *, scale, gt(factor, 10), deny
"""


class Order(BaseModel):
    total: Decimal
    note: str = ""


paid: list[object] = []


def pay(amount: Decimal) -> str:
    paid.append(amount)
    return f"paid {amount}"


def pay_many(amounts: list[Decimal]) -> str:
    paid.append(amounts)
    return "paid"


def pay_order(order: Order) -> str:
    paid.append(order.total)
    return "paid"


def wait(duration: timedelta) -> str:
    paid.append(duration)
    return "waited"


def scale(factor: Fraction) -> str:
    paid.append(factor)
    return "scaled"


@pytest.fixture
def guard(tmp_path: Path) -> Iterator[Guard]:
    guard = guard_on_rules(tmp_path, RULES, (pay, pay_many, pay_order, wait, scale))
    paid.clear()
    yield guard
    guard.close()


@pytest.mark.parametrize("amount", [5000, "5000", "5000.50", 5000.5, Decimal("1000.01")])
def test_a_decimal_over_the_limit_is_denied(guard: Guard, amount: object) -> None:
    with pytest.raises(PolicyDenied):
        guard.call("pay", {"amount": amount})
    assert paid == []


def test_a_decimal_under_the_limit_runs_with_the_same_value(guard: Guard) -> None:
    assert guard.call("pay", {"amount": "999.99"}) == "paid 999.99"
    assert paid == [Decimal("999.99")]


def test_nested_decimals_are_numbers_too(guard: Guard) -> None:
    with pytest.raises(PolicyDenied):
        guard.call("pay_many", {"amounts": ["1", "5000"]})
    with pytest.raises(PolicyDenied):
        guard.call("pay_order", {"order": {"total": "5000", "note": "x"}})
    assert paid == []
    guard.call("pay_order", {"order": {"total": "10", "note": "x"}})
    assert paid == [Decimal("10")]


def test_a_timedelta_is_compared_as_seconds(guard: Guard) -> None:
    with pytest.raises(PolicyDenied):
        guard.call("wait", {"duration": 5000})
    with pytest.raises(PolicyDenied):
        guard.call("wait", {"duration": "PT2M"})
    assert paid == []
    guard.call("wait", {"duration": 30})
    assert paid == [timedelta(seconds=30)]


@pytest.mark.parametrize("amount", ["1000.0000000000000000001", "Infinity", "NaN"])
def test_a_decimal_no_number_holds_exactly_is_refused(guard: Guard, amount: str) -> None:
    with pytest.raises((InvalidArguments, PolicyDenied)):
        guard.call("pay", {"amount": amount})
    assert paid == []


def test_an_approvers_edit_is_decided_as_a_number_too(tmp_path: Path) -> None:
    from agentguard import ApprovalResult, ApprovalStatus

    policy = tmp_path / "policy"
    policy.mkdir()
    shutil.copyfile(PERMISSIONS / "model.conf", policy / "model.conf")
    (policy / "policy.csv").write_text("p, *, pay, *, ask\np, *, pay, gt(amount, 1000), deny\n")
    (tmp_path / "ws").mkdir()
    edit = ApprovalResult(
        status=ApprovalStatus.APPROVED, approver="ops", channel="t", edited_arguments={"amount": "5000"}
    )
    settings = Settings(home=tmp_path / "home", workspace=tmp_path / "ws")
    guard = Guard(policy, approver=ScriptedApprover([edit]), audit=MemoryAudit(), settings=settings)
    guard.register("pay", pay)
    paid.clear()
    try:
        with pytest.raises(PolicyDenied, match=r"\(edited\) denied"):
            guard.call("pay", {"amount": "10"})
    finally:
        guard.close()
    assert paid == []


@pytest.mark.parametrize("factor", ["5000", "21/2", 11, "10.5"])
def test_a_fraction_over_the_limit_is_denied(guard: Guard, factor: object) -> None:
    # a Fraction's JSON form is "21/2": text no comparison matched
    with pytest.raises(PolicyDenied):
        guard.call("scale", {"factor": factor})
    assert paid == []


def test_a_fraction_under_the_limit_runs_with_the_same_value(guard: Guard) -> None:
    assert guard.call("scale", {"factor": "19/2"}) == "scaled"
    assert paid == [Fraction(19, 2)]


def test_a_fraction_no_number_holds_exactly_is_refused(guard: Guard) -> None:
    with pytest.raises(InvalidArguments):
        guard.call("scale", {"factor": "1/3"})
    assert paid == []
