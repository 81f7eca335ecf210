"""Validators that are not idempotent: the tool must run the value the policy decided on.

The policy decides on the arguments validated once and dumped as JSON; the tool ran with that JSON
validated a second time. A ``Json[...]`` parameter parses text, a validator may percent-decode: each
pass peels one layer, so ``"sec%2572et"`` was decided as ``"sec%72et"`` (no rule matched) and the tool
read ``"secret"``. Such a call is now refused, naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote

import pytest
from pydantic import AfterValidator, BaseModel, Json

from agentguard import Guard, InvalidArguments, PolicyDenied
from tests.rules_guard import guard_on_rules

RULES = """
p, *, *, *, allow
p, *, read_note, regex(name, ".*secret.*"), deny
p, *, run, eq(command, "rm"), deny
p, *, run_any, eq(command, "rm"), deny
p, *, run_job, eq(job.command, "rm"), deny
"""

ran: list[object] = []


def read_note(name: Annotated[str, AfterValidator(unquote)]) -> str:
    ran.append(name)
    return "note"


def run(command: Json[str]) -> str:
    ran.append(command)
    return "ran"


def run_any(command: Json[Any]) -> str:
    ran.append(command)
    return "ran"


class Job(BaseModel):
    command: Json[str]


def run_job(job: Job) -> str:
    ran.append(job.command)
    return "ran"


@pytest.fixture
def guard(tmp_path: Path) -> Iterator[Guard]:
    guard = guard_on_rules(tmp_path, RULES, (read_note, run, run_any, run_job))
    ran.clear()
    yield guard
    guard.close()


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("read_note", {"name": "sec%2572et"}, "name"),
        ("run", {"command": '"\\"rm\\""'}, "command"),
        ("run_any", {"command": '"\\"rm\\""'}, "command"),
        ("run_job", {"job": {"command": '"\\"rm\\""'}}, "job.command"),
    ],
)
def test_a_value_that_changes_when_validated_again_is_refused(
    guard: Guard, tool: str, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidArguments, match="validating the value again changes it") as caught:
        guard.call(tool, arguments)
    assert caught.value.data["field"] == field
    assert ran == []


def test_the_decoded_value_is_still_decided_on(guard: Guard) -> None:
    with pytest.raises(PolicyDenied):
        guard.call("read_note", {"name": "sec%72et"})
    assert guard.call("read_note", {"name": "a%20note"}) == "note"
    assert ran == ["a note"]
