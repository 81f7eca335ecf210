"""Words next to a redirection that tree-sitter-bash reads otherwise than bash, found by a fuzzer
that ran each line the guard decided on in bash with recording stubs:

- ``>$`` then a newline or blank: bash redirects to a file named ``$``; tree-sitter reads ``$rm`` as
  one expansion, so the next line's command became the redirection's target (``ls >$\\nrm -rf x``
  was ``ls -rf x``: no ``rm`` ran);
- ``-n2>x``: bash passes the word ``-n2`` and redirects stdout; tree-sitter reads ``-n2`` as a file
  descriptor and the word vanished (``git --namespace -n2>/dev/null push`` was ``git --namespace
  push``: no push);
- ``{b[x]}>f`` (bash names a file descriptor, evaluating the subscript as arithmetic) and
  ``b=([x]=1)`` (an indexed array's key is arithmetic): with ``x='a[$(rm -rf y)]'`` both run
  ``rm``, which the line shows only as quoted text;
- ``<&-`` and ``>&-`` close a descriptor and take no file, but the word after them was read as
  their file: ``git <&- push`` was ``git``, ``rm x <&- -rf`` was ``rm x``;
- ``${ rm<newline>}``: white space after ``${`` is no parameter expansion (bash 5.3 runs it as a
  command substitution).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.policy._shell import Dyn, parse_script
from agentguard.policy._shellmatch import CommandPattern, OptionSet, cmd_any_result, opt_result
from tests.policy.test_bypass_shell import BASH, _bash_runs, _check_against_bash, sandbox_dir

__all__ = ["sandbox_dir"]  # the fixture, used by name

RM = CommandPattern.parse("rm", open_ended=True)
RF = OptionSet.parse(["-r", "-f"])
PUSH = [CommandPattern.parse("git push*")]
ARITH = "x='a[$(rm -rf y)]'; "

HIDDEN_RM = [
    "ls >$\nrm -rf x",
    "ls <$\nrm -rf x",
    "ls 2>$\nrm -rf x",
    "ls &>$\n\nrm -rf x",
    "ls <<<$\nrm -rf x",
    "ls x >$ rm -rf x",
    ARITH + "ls {b[x]}>/dev/null",
    ARITH + "ls y {b[x]}</dev/null z",
    ARITH + "exec {b[x]}>/dev/null",
    ARITH + "b=([x]=1)",
    ARITH + "b+=(1 [x]=2)",
    ARITH + "declare b=([x]=1)",
    "rm x <&- -rf",
    "rm x 2>&- -rf",
    "ls ${ rm\n}",
    'ls "${\trm\n}"',
]


@pytest.mark.parametrize("command", HIDDEN_RM)
def test_a_command_behind_a_redirection_is_not_ruled_out(command: str) -> None:
    assert opt_result(command, RM, RF) is not False


@pytest.mark.parametrize(
    "command",
    [
        "git --namespace -n2>/dev/null push",
        "git <&- push",
        "git -C . 2>&- push",
        "git --namespace -x1<&- push",
    ],
)
def test_a_word_read_as_a_file_descriptor_is_kept(command: str) -> None:
    assert cmd_any_result(command, PUSH) is not False


def test_only_digits_name_a_file_descriptor() -> None:
    assert parse_script("ls -l2>/dev/null").commands[0].words == ("ls", "-l2")
    assert parse_script("ls a 2>/dev/null").commands[0].words == ("ls", "a")


def test_a_named_descriptor_is_no_argument() -> None:
    words = parse_script("exec {fd}>/dev/null").commands[0].words
    assert words == ("exec",)
    assert not any(isinstance(w, Dyn) for w in words)


def test_plain_lines_still_read() -> None:
    assert parse_script('ls $HOME >out; echo ${x} $1 $@ "$?"').unknown is None
    assert parse_script("a=(1 2 [x 3)").unknown is None


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("command", [c for c in HIDDEN_RM if " >$ " not in c and "${" not in c])
def test_bash_runs_rm_there(sandbox_dir: Path, command: str) -> None:
    runs = _bash_runs(sandbox_dir, command)
    assert any(argv[0] == "rm" and "-rf" in argv for argv in runs), runs
    _check_against_bash(sandbox_dir, command)


# A line of redirections only ends at its newline; tree-sitter-bash carries the command on into the
# next line's words, so a word read off a descriptor ("-2>f") became that command's name.
NEXT_LINE = ["true\n-2>f <<<a \nrm -rf x", "true\n-n2>f\nrm -rf x", ">f <<<a \n-2>g\nrm -rf x"]


@pytest.mark.parametrize("command", NEXT_LINE)
def test_a_command_is_not_continued_on_the_next_line(command: str) -> None:
    assert opt_result(command, RM, RF) is not False


def test_a_backslash_newline_still_continues_a_command() -> None:
    assert parse_script("ls \\\n -la").commands[0].words == ("ls", "-la")


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("command", NEXT_LINE)
def test_bash_runs_rm_on_the_next_line(sandbox_dir: Path, command: str) -> None:
    assert ["rm", "-rf", "x"] in _bash_runs(sandbox_dir, command)
    _check_against_bash(sandbox_dir, command)


# tree-sitter-bash reads a 0 right before a redirection ("0<&-", "0</dev/null") as a number argument
# of the command, not as the redirection's descriptor: "git 0<&- push" was "git 0 push" (no push).
ZERO = ["git 0<&- push", "git 0</dev/null push", "git 0>&- push", "git -C . 0<&- push"]


@pytest.mark.parametrize("command", ZERO)
def test_a_zero_descriptor_is_no_argument(command: str) -> None:
    assert "0" not in parse_script(command).commands[0].words
    assert cmd_any_result(command, PUSH) is not False


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_bash_passes_no_zero_argument(sandbox_dir: Path) -> None:
    runs = _bash_runs(sandbox_dir, "rm 0</dev/null -rf x")
    assert any(list(argv) == ["rm", "-rf", "x"] for argv in runs), runs
    _check_against_bash(sandbox_dir, "rm 0</dev/null -rf x")
