"""A newline followed by a backslash: bash ends the command at the newline; tree-sitter-bash once
read the next line as more arguments of the first command (``ls`` with argument ``<newline>\\rm``),
so ``rm`` went unseen. A word holding unescaped white space is not bash's reading: cannot tell."""

from __future__ import annotations

import pytest

from agentguard.policy._shellmatch import CommandPattern, cmd_any_result
from tests.policy.test_bypass_shell import (  # noqa: F401 - sandbox_dir is a fixture
    BASH,
    _bash_runs,
    _check_against_bash,
    sandbox_dir,
)

RM = CommandPattern(("rm",), True)

HIDDEN = [
    "l\n\\rm",
    "ls\n\\rm x",
    "ls\n\n\\rm -rf x",
    "echo a\n\\rm x",
    "echo a\n\\r\\m x",
    "ls\n\\ls",
    "true\n\\rm\n",
]


@pytest.mark.parametrize("command", HIDDEN)
def test_a_command_after_newline_backslash_is_never_missed(command: str) -> None:
    assert cmd_any_result(command, [RM]) is not False or "rm" not in command.replace("\\", "")


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("command", HIDDEN)
def test_newline_backslash_agrees_with_bash(sandbox_dir, command: str) -> None:  # noqa: F811
    _check_against_bash(sandbox_dir, command)


@pytest.mark.parametrize(
    ("command", "argv"),
    [("ls a\\ b", ("ls", "a b")), ("ls 'a\nb'", ("ls", "a\nb")), ('ls "a b"', ("ls", "a b"))],
)
def test_escaped_or_quoted_space_is_still_one_word(command: str, argv: tuple[str, ...]) -> None:
    assert cmd_any_result(command, [CommandPattern(argv, False)]) is True
