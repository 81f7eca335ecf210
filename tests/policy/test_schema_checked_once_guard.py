"""Through the guard: an unchanged call's JSON schema check runs once; a decided form that differs
from what was received (a resolved path) is checked again, and the tool runs that form."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentguard import Guard, Settings
from agentguard.integrations._arguments import json_schema_model
from agentguard.testing import MemoryAudit

SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}


@pytest.fixture
def guard_for(
    make_policy: Callable[..., Path], workspace: Path, tmp_path: Path
) -> Iterator[Callable[[str], Guard]]:
    made: list[Guard] = []

    def build(rules: str) -> Guard:
        settings = Settings(home=tmp_path / "home", workspace=workspace)
        guard = Guard(make_policy(rules), audit=MemoryAudit(), settings=settings)
        made.append(guard)
        return guard

    yield build
    for guard in made:
        guard.close()


def test_an_unchanged_call_is_checked_once(
    guard_for: Callable[[str], Guard], schema_checks: list[Any]
) -> None:
    guard = guard_for("p, *, read, *, allow")
    received: list[dict[str, Any]] = []
    guard.register("read", lambda **a: received.append(a), args_model=json_schema_model("read", SCHEMA))
    guard.call("read", {"path": "notes.txt"})
    assert received == [{"path": "notes.txt"}]
    assert schema_checks == [{"path": "notes.txt"}]


def test_a_resolved_path_is_checked_again_and_is_what_runs(
    guard_for: Callable[[str], Guard], schema_checks: list[Any], workspace: Path
) -> None:
    guard = guard_for('p, *, read, path(path, "{workspace}/**"), allow')
    received: list[dict[str, Any]] = []
    guard.register("read", lambda **a: received.append(a), args_model=json_schema_model("read", SCHEMA))
    guard.call("read", {"path": "src/app.py"})
    resolved = str((workspace / "src" / "app.py").resolve())
    assert received == [{"path": resolved}]
    assert schema_checks == [{"path": "src/app.py"}, {"path": resolved}]
