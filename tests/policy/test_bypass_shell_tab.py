"""A backslash before a tab: bash reads an escaped tab inside the word (``a\\<TAB>#`` is one word, the
``#`` no comment); tree-sitter-bash ends the word at the backslash and read ``#; rm -rf /`` as a
comment, so ``rm`` went unseen. Such a line is cannot tell."""

from __future__ import annotations

import pytest

from agentguard.policy._shellmatch import CommandPattern, cmd_any_result, cmd_result
from tests.policy.test_bypass_shell import (  # noqa: F401 - sandbox_dir is a fixture
    BASH,
    _bash_runs,
    _check_against_bash,
    sandbox_dir,
)

RM = CommandPattern(("rm",), True)
LS = CommandPattern(("ls",), True)

HIDDEN = [
    "ls a\\\t#; rm -rf x",
    "\\\t#;rm",
    "ls\\\t#\nrm x",
    "echo a\\\t# `rm x`",
    "ls ]\\ #; rm -rf x",
    "ls \\ #; rm x",
    "ls ''\\ #; rm x",
    "ls a'b'\\ #; rm x",
    "ls [a]\\ #; rm x",
    "ls {a,b}\\ #; rm x",
    "ls ;\\ #; rm x",
    "ls $'a'\\ #; rm x",
]


@pytest.mark.parametrize("command", HIDDEN)
def test_a_command_after_backslash_tab_is_never_missed(command: str) -> None:
    assert cmd_any_result(command, [RM]) is not False
    assert cmd_result(command, [LS]) is not True  # an allow for ls never covers the rm


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("command", HIDDEN)
def test_backslash_tab_agrees_with_bash(sandbox_dir, command: str) -> None:  # noqa: F811
    assert any(argv[0] == "rm" for argv in _bash_runs(sandbox_dir, command)), command
    _check_against_bash(sandbox_dir, command)


def test_a_plain_tab_and_an_escaped_space_in_a_word_still_read_as_bash_reads_them() -> None:
    assert cmd_any_result("ls\ta", [CommandPattern(("ls", "a"), False)]) is True
    assert cmd_any_result("ls my\\ file.txt", [CommandPattern(("ls", "my file.txt"), False)]) is True
