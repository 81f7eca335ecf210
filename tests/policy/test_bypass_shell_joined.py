"""A quoted word straight before a backslash: bash joins ``'-'\\rf`` into one word ``-rf``;
tree-sitter-bash reads two (``-`` and ``rf``), so ``rm '-'\\rf x`` ran ``rm -rf x`` while the guard
saw no ``-r`` and asked instead of denying (likewise ``''\\rm -rf x``, ``git "pu"\\sh``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.policy._shell import parse_script
from tests.policy.test_bypass_shell import BASH, _bash_runs, _check_against_bash, sandbox_dir

from .conftest import PERMISSIONS, decide

__all__ = ["sandbox_dir"]  # the fixture, used by name

JOINED = {
    "rm '-'\\rf x": ("rm", "-rf", "x"),
    "rm $'-'\\rf x": ("rm", "-rf", "x"),
    'rm "-"\\rf x': ("rm", "-rf", "x"),
    "''\\rm -rf x": ("rm", "-rf", "x"),
    "r''\\m -rf x": ("rm", "-rf", "x"),
    'git "pu"\\sh': ("git", "push"),
    "rm x >y '-'\\rf": ("rm", "x", "-rf"),
    "rm x >'y'\\z": ("rm", "x"),
}


@pytest.mark.parametrize(("command", "words"), JOINED.items())
def test_adjacent_pieces_are_one_word(command: str, words: tuple[str, ...]) -> None:
    assert parse_script(command).commands[0].words == words


@pytest.mark.parametrize("command", [c for c in JOINED if c.startswith(("rm", "''", "r''", "git"))][:6])
def test_default_policy_denies_them(command: str, workspace: Path) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace)
    assert decide(engine, "shell.run", command=command).effect is Effect.DENY


def test_separate_words_stay_separate() -> None:
    assert parse_script("ls 'a' \\b >c 'd'").commands[0].words == ("ls", "a", "b", "d")
    assert parse_script("ls a>b").commands[0].words == ("ls", "a")


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize(("command", "words"), JOINED.items())
def test_bash_joins_them(sandbox_dir: Path, command: str, words: tuple[str, ...]) -> None:
    assert list(words) in _bash_runs(sandbox_dir, command)
    _check_against_bash(sandbox_dir, command)
