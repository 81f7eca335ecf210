"""A tool of plain fields runs with the values its call's first validation gave (the second
validation, of the decided JSON arguments, is skipped): those values must be exactly what that second
validation gives, type included, and every other tool must still be validated twice."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentguard import Guard, InvalidArguments
from agentguard.models import Decision, Effect, ToolCall
from agentguard.registry import ToolRegistry, round_trips
from agentguard.testing import MemoryAudit


class Level(enum.IntEnum):
    LOW = 1


class Name(str):
    """A str subclass: its JSON form validated again is a plain str."""


def plain(text: str, times: int = 1, flag: bool | None = None, label: str | None = "x") -> str:
    return text * times


def bad_default(text: str, times: int = None) -> str:  # type: ignore[assignment]  # noqa: RUF013
    return text


def floats(x: float) -> float:
    return x


def anything(x: Any) -> Any:
    return x


def lists(x: list[str]) -> list[str]:
    return x


def open_ended(x: str, **more: Any) -> str:
    return x


def aliased(x: str = Field(alias="y")) -> str:
    return x


def bounded(x: str = Field(max_length=3)) -> str:
    return x


class Shouting(BaseModel):
    x: str

    @field_validator("x")
    @classmethod
    def _loud(cls, value: str) -> str:
        return value + "!"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: str
    n: int = 0


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (plain, True),
        (bad_default, False),
        (floats, False),
        (anything, False),
        (lists, False),
        (open_ended, False),
        (aliased, False),
        (bounded, False),
    ],
)
def test_which_signatures_round_trip(fn: Callable[..., Any], expected: bool) -> None:
    assert ToolRegistry().add("t", fn).round_trips is expected


def test_which_models_round_trip() -> None:
    assert round_trips(Strict)
    assert not round_trips(Shouting)  # a validator need not give back what it was given


@pytest.mark.parametrize(
    "arguments",
    [
        {"text": "hi"},
        {"text": "hi", "times": 3, "flag": True, "label": None},
        {"text": "hi", "times": True},  # lax: a bool for an int
        {"text": "hi", "times": 2.0},
        {"text": "hi", "times": "4"},
        {"text": Name("hi")},  # a str subclass
        {"text": "hi", "times": Level.LOW},  # an int subclass
        {"text": "é\ud800"},  # a lone surrogate
        {"text": "hi", "times": 2**70},
    ],
)
def test_reused_values_are_what_the_second_validation_gives(arguments: dict[str, Any]) -> None:
    entry = ToolRegistry().add("t", plain)
    values, decided, _ = entry.validate(arguments)
    again = entry.kwargs(decided)
    reused = entry.reusable(values, decided)
    if reused is not None:
        assert reused == again
        assert [type(v) for v in reused.values()] == [type(v) for v in again.values()]
        assert list(reused) == list(again)


def test_a_subclass_value_is_validated_again() -> None:
    entry = ToolRegistry().add("t", plain)
    values, decided, _ = entry.validate({"text": "hi", "times": Level.LOW})
    if type(values["times"]) is not int:  # pydantic kept the subclass: not reused
        assert entry.reusable(values, decided) is None


def test_a_model_that_does_not_round_trip_is_validated_again() -> None:
    entry = ToolRegistry().add("t", lambda x: x, args_model=Shouting)
    # the decided form would be "a!" and the tool would get it validated again, "a!!": refused
    with pytest.raises(InvalidArguments, match="x: validating the value again changes it"):
        entry.validate({"x": "a"})
    with pytest.raises(InvalidArguments, match="x: validating the value again changes it"):
        entry.kwargs({"x": "a!"})


class Allow:
    def decide(self, call: ToolCall) -> Decision:
        return Decision(effect=Effect.ALLOW, reason="test")


def test_the_guarded_tool_gets_the_same_values_either_way() -> None:
    seen: list[tuple[Any, ...]] = []

    def tool(text: str, times: int = 1, flag: bool | None = None) -> str:
        seen.append((text, type(text), times, type(times), flag))
        return text * times

    def shouted(x: str) -> str:
        seen.append((x,))
        return x

    with Guard(Allow(), audit=MemoryAudit()) as guard:
        guard.register("t", tool)
        guard.register("s", shouted, args_model=Shouting)
        guard.call("t", {"text": Name("ab"), "times": "2", "flag": None})
        with pytest.raises(InvalidArguments):  # not idempotent: it would not run what was decided
            guard.call("s", {"x": "a"})
    assert seen == [("ab", str, 2, int, None)]


class Lowered(BaseModel):
    """Plain fields, but its JSON form is not its values: ``model_dump`` is its own."""

    host: str

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        dumped = super().model_dump(**kwargs)
        dumped["host"] = dumped["host"].lower()
        return dumped


class Recording:
    """Allows every call and keeps the arguments it decided on."""

    def __init__(self) -> None:
        self.decided: list[dict[str, Any]] = []

    def decide(self, call: ToolCall) -> Decision:
        self.decided.append(dict(call.arguments))
        return Decision(effect=Effect.ALLOW, reason="test")


def test_a_model_whose_json_form_differs_runs_what_was_decided() -> None:
    """The decided form is the model's ``model_dump``: a tool whose dump is not its values runs the
    dump validated again (as before values were reused), not the first validation's values."""
    ran: list[str] = []

    def fetch(host: str) -> str:
        ran.append(host)
        return host

    policy = Recording()
    with Guard(policy, audit=MemoryAudit()) as guard:
        guard.register("fetch", fetch, args_model=Lowered)
        guard.call("fetch", {"host": "Internal.Example"})
    assert policy.decided == [{"host": "internal.example"}]
    assert ran == ["internal.example"]


def test_plain_values_are_still_reused_and_a_foreign_dump_is_not() -> None:
    entry = ToolRegistry().add("t", plain)
    values, decided, _ = entry.validate({"text": "hi", "times": 2})
    assert entry.reusable(values, decided) is values
    lowered = ToolRegistry().add("fetch", lambda host: host, args_model=Lowered)
    values, decided, _ = lowered.validate({"host": "A"})
    assert lowered.round_trips
    assert lowered.reusable(values, decided) is None


class Ask:
    def decide(self, call: ToolCall) -> Decision:
        return Decision(effect=Effect.ASK, reason="test")


def test_an_approvers_edit_of_a_plain_tool_is_what_runs() -> None:
    """A person's edit changes the arguments after the first validation: its values are not reused."""
    from agentguard import ApprovalResult, ApprovalStatus
    from agentguard.testing import ScriptedApprover

    ran: list[tuple[str, int]] = []

    def count(text: str, n: int = 1) -> int:
        ran.append((text, n))
        return n

    async def acount(text: str, n: int = 1) -> int:
        ran.append((text, n))
        return n

    def edit() -> ApprovalResult:
        return ApprovalResult(
            status=ApprovalStatus.APPROVED,
            approver="ops",
            channel="t",
            edited_arguments={"text": "b", "n": 2},
        )

    with Guard(Ask(), approver=ScriptedApprover([edit(), edit()]), audit=MemoryAudit()) as guard:
        guard.register("count", count)
        guard.register("acount", acount)
        assert ToolRegistry().add("count", count).round_trips
        assert guard.call("count", {"text": "a", "n": 1}) == 2
        assert asyncio.run(guard.acall("acount", {"text": "a", "n": 1})) == 2
    assert ran == [("b", 2), ("b", 2)]
