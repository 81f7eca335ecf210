"""The caller's arguments are read once: a mapping that answers differently on a second read (a
``Mapping`` subclass, or a dict another party changes while the guard works) must not make
``call.received`` record one set of arguments while another is validated and decided, nor let the
NaN check see values other than those validated."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, field_validator

from agentguard import Guard, InvalidArguments, Settings
from agentguard.models import ApprovalRequest
from agentguard.testing import MemoryAudit, ScriptedApprover
from tests.rules_guard import PERMISSIONS, guard_on_rules

RULES = """
p, *, *, *, allow
p, *, pay, gt(amount, 2500), deny
"""

ran: list[object] = []


def pay(amount: float, memo: str = "") -> str:
    ran.append(amount)
    return "paid"


class Shifty(Mapping[str, Any]):
    """Answers ``first`` on the first read of its items, ``then`` on every later read."""

    def __init__(self, first: dict[str, Any], then: dict[str, Any]) -> None:
        self._first, self._then, self.reads = first, then, 0

    def _now(self) -> dict[str, Any]:
        self.reads += 1
        return self._first if self.reads == 1 else self._then

    def __getitem__(self, key: str) -> Any:
        return self._now()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._now())

    def __len__(self) -> int:
        return len(self._first)

    def items(self) -> Any:
        return self._now().items()

    def keys(self) -> Any:
        return self._now().keys()


@pytest.fixture
def guard(tmp_path: Path) -> Guard:
    ran.clear()
    return guard_on_rules(tmp_path, RULES, (pay,))


def _received(guard: Guard) -> dict[str, Any]:
    audit = guard.audit
    assert isinstance(audit, MemoryAudit)
    return next(r for r in audit.records if r["event"] == "call.received")


def test_received_records_the_arguments_that_were_decided(guard: Guard) -> None:
    """The first read says 10 (was recorded), later reads say 9999 (were validated and decided)."""
    shifty = Shifty({"amount": 10.0}, {"amount": 9999.0})
    assert guard.call("pay", shifty) == "paid"  # read once: 10, under the limit
    assert ran == [10.0]
    assert _received(guard)["arguments"] == {"amount": 10.0}
    assert shifty.reads == 1


def test_nan_check_sees_the_validated_values(guard: Guard) -> None:
    """The NaN walk re-read the caller's mapping: a NaN seen only by that walk refused a call whose
    validated arguments were fine, and a NaN validated but gone by the walk got through as null."""
    shifty = Shifty({"amount": 5.0}, {"amount": math.nan})
    assert guard.call("pay", shifty) == "paid"  # one read: 5.0, recorded, validated and run
    assert ran == [5.0]
    assert _received(guard)["arguments"] == {"amount": 5.0}
    assert shifty.reads == 1


def test_top_level_dict_changed_between_reads(tmp_path: Path) -> None:
    """A dict whose key is swapped by a validator of the tool's model after validation read it."""
    ran.clear()
    caller: dict[str, Any] = {"amount": 7.0}

    class Args(BaseModel):
        amount: float
        memo: str = ""

        @field_validator("amount")
        @classmethod
        def _meddle(cls, value: float) -> float:
            caller["amount"] = math.inf  # the caller's dict, changed mid-validation
            return value

    def meddled(amount: float, memo: str = "") -> str:
        ran.append(amount)
        return "ran"

    guard = guard_on_rules(tmp_path, RULES, ())
    guard.register("meddled", meddled, args_model=Args)
    assert guard.call("meddled", caller) == "ran"  # the NaN walk read the changed dict: refused
    assert ran == [7.0]
    assert _received(guard)["arguments"] == {"amount": 7.0}


def test_refused_nan_is_still_refused(guard: Guard) -> None:
    with pytest.raises(InvalidArguments):
        guard.call("pay", {"amount": math.nan})
    assert ran == []


def test_nested_values_changed_after_the_decision_do_not_reach_the_tool(tmp_path: Path) -> None:
    """Only the top level is copied on receipt, and pydantic keeps references for ``Any`` fields; the
    tool's values come from the decided JSON form (a fresh copy), so the caller changing a nested
    list while the call waits for approval changes nothing the tool gets."""
    ran.clear()
    recipients = ["alice@example.com"]

    def approve_and_meddle(request: ApprovalRequest) -> str:
        recipients.append("mallory@evil.example")  # the caller's list, changed after the decision
        return "approve"

    def send(to: Any) -> str:
        ran.append(to)
        return "sent"

    policy = tmp_path / "policy"
    policy.mkdir()
    shutil.copyfile(PERMISSIONS / "model.conf", policy / "model.conf")
    (policy / "policy.csv").write_text("p, *, send, *, ask\n")
    (tmp_path / "ws").mkdir()
    settings = Settings(home=tmp_path / "home", workspace=tmp_path / "ws")
    approver = ScriptedApprover(approve_and_meddle)
    guard = Guard(policy, approver=approver, audit=MemoryAudit(), settings=settings)
    guard.register("send", send)
    assert guard.call("send", {"to": recipients}) == "sent"
    assert ran == [["alice@example.com"]]
    assert approver.requests[0].call.arguments == {"to": ["alice@example.com"]}
