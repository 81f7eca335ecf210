"""A path argument that is not a string: ``path()`` cannot tell, so a deny rule still stops the call.

``open(3)`` reads file descriptor 3, ``open(True)`` descriptor 1, and a tool may take a list of paths.
``path()`` used to answer False for such values, so a deny rule on ``.env`` did not fire while a
catch-all allow let the tool open whatever the descriptor (or the list) named.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentguard import Guard, PolicyDenied, Settings
from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.testing import MemoryAudit, ScriptedApprover

from .conftest import decide

RULES = """
p, *, read_any, *, allow
p, *, read_any, path(path, "{workspace}/.env"), deny
p, *, read_in, path(path, "{workspace}/**"), allow
p, *, read_in, path(path, "{workspace}/.env") && eq(mode, "text"), ask
"""


@pytest.fixture
def secret(workspace: Path) -> Path:
    env = workspace / ".env"
    env.write_text("API_KEY=secret\n")
    return env


@pytest.mark.parametrize("value", [3, True, 2.5, ["/etc/passwd"], {"p": ".env"}])
def test_a_non_string_path_is_cannot_tell(
    engine_for: Callable[..., PolicyEngine], secret: Path, value: object
) -> None:
    engine = engine_for(RULES)
    denied = decide(engine, "read_any", path=value)
    assert denied.effect is Effect.DENY, value
    assert "cannot tell" in denied.reason
    # never a match for an allow rule, whatever else the condition says
    assert decide(engine, "read_in", path=value, mode="binary").effect is not Effect.ALLOW


def test_a_missing_or_null_path_is_still_no_match(
    engine_for: Callable[..., PolicyEngine], secret: Path
) -> None:
    engine = engine_for(RULES)
    assert decide(engine, "read_any").effect is Effect.ALLOW
    assert decide(engine, "read_any", path=None).effect is Effect.ALLOW
    assert decide(engine, "read_any", path="notes.txt").effect is Effect.ALLOW


@pytest.fixture
def guard(make_policy: Callable[..., Path], workspace: Path, tmp_path: Path) -> Iterator[Guard]:
    settings = Settings(home=tmp_path / "home", workspace=workspace)
    guard = Guard(make_policy(RULES), approver=ScriptedApprover(), audit=MemoryAudit(), settings=settings)
    yield guard
    guard.close()


def test_a_descriptor_number_does_not_read_the_denied_file(guard: Guard, secret: Path) -> None:
    def read_any(path):  # type: ignore[no-untyped-def]  # unannotated: any JSON value passes
        with open(path, encoding="utf-8", closefd=False) as handle:
            return handle.read()

    guard.register("read_any", read_any)
    with pytest.raises(PolicyDenied):
        guard.call("read_any", {"path": ".env"})
    fd = os.open(secret, os.O_RDONLY)
    try:
        with pytest.raises(PolicyDenied):
            guard.call("read_any", {"path": fd})
    finally:
        os.close(fd)
