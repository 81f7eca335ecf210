"""Red team: one file name, two Python spellings, and the rules matched only one.

On POSIX a path argument is encoded to bytes with ``surrogateescape``: ``"schl\\udcc3\\udcbcssel"``
(a JSON argument can carry ``\\udcc3`` escapes) opens the very bytes of ``"schlüssel"``. The decision
matched the text as sent, so ``path(path, "{workspace}/schlüssel/**")`` did not match it and a deny
rule on a non-ASCII name was passed over while ``fs.read`` read the file. Paths are now decoded
again from their bytes before matching (one spelling per name on disk); a lone surrogate no file
name can hold makes the path unresolvable (denied).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentguard import Guard, PolicyDenied, Settings
from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.testing import MemoryAudit, ScriptedApprover

from .conftest import PERMISSIONS, decide

RULES = """
p, *, fs.*, path(path, "{workspace}/**"), allow
p, *, fs.*, path(path, "{workspace}/schlüssel/**") || path(path, "{workspace}/**/geheim-ü.txt"), deny
"""
ESCAPED = "schl\udcc3\udcbcssel"  # the UTF-8 bytes of "ü" as surrogate escapes


@pytest.fixture
def ws(workspace: Path) -> Path:
    (workspace / "schlüssel").mkdir()
    (workspace / "schlüssel" / "key.txt").write_text("TOPSECRET\n")
    (workspace / "src" / "geheim-ü.txt").write_text("TOPSECRET\n")
    return workspace


@pytest.mark.parametrize(
    "path",
    [f"{ESCAPED}/key.txt", "src/geheim-\udcc3\udcbc.txt", f"src/../{ESCAPED}/key.txt"],
)
def test_an_escaped_spelling_is_decided_as_the_name_it_opens(
    engine_for: Callable[..., PolicyEngine], ws: Path, path: str
) -> None:
    decision = decide(engine_for(RULES), "fs.read", path=path)
    assert decision.effect is Effect.DENY


def test_the_tool_gets_the_decoded_spelling(engine_for: Callable[..., PolicyEngine], ws: Path) -> None:
    (ws / "schlüssel-notes.txt").write_text("fine\n")
    decision = decide(engine_for(RULES), "fs.read", path="schl\udcc3\udcbcssel-notes.txt")
    assert decision.effect is Effect.ALLOW
    assert decision.arguments == {"path": str(ws / "schlüssel-notes.txt")}


def test_a_lone_surrogate_is_unresolvable(engine_for: Callable[..., PolicyEngine], ws: Path) -> None:
    assert decide(engine_for(RULES), "fs.read", path="src/\ud800.txt").effect is Effect.DENY


def test_undecodable_bytes_stay_a_name(engine_for: Callable[..., PolicyEngine], ws: Path) -> None:
    """``\\udcff`` is the byte 0xff, no UTF-8 character: a name of its own, decided and opened as such."""
    decision = decide(engine_for(RULES), "fs.read", path="src/raw-\udcff.txt")
    assert decision.effect is Effect.ALLOW
    assert decision.arguments == {"path": str(ws / "src" / "raw-\udcff.txt")}


@pytest.fixture
def guard(ws: Path, tmp_path: Path, make_policy: Callable[..., Path]) -> Iterator[Guard]:
    settings = Settings(home=tmp_path / "home", workspace=ws)
    guard = Guard(make_policy(RULES), approver=ScriptedApprover(), audit=MemoryAudit(), settings=settings)
    guard.register_builtins()
    yield guard
    guard.close()


def test_fs_read_does_not_open_the_denied_file(guard: Guard) -> None:
    with pytest.raises(PolicyDenied):
        guard.call("fs.read", {"path": f"{ESCAPED}/key.txt"})


def test_fs_write_does_not_replace_the_denied_file(guard: Guard, ws: Path) -> None:
    with pytest.raises(PolicyDenied):
        guard.call("fs.write", {"path": f"{ESCAPED}/key.txt", "content": "overwritten\n"})
    assert (ws / "schlüssel" / "key.txt").read_text() == "TOPSECRET\n"


def test_the_shipped_policy_names_are_ascii() -> None:
    """Surrogate escapes only ever stand for bytes 0x80-0xff: an ASCII name has no second spelling."""
    text = (PERMISSIONS / "policy.csv").read_text()
    assert text.isascii()
