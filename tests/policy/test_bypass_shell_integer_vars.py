"""bash's integer variables (RANDOM, SRANDOM, OPTIND, HISTCMD) evaluate every value given to them as
arithmetic, and arithmetic runs command substitutions in array subscripts: ``RANDOM='a[$(rm -rf x)]'``
runs ``rm`` although the line shows it only as quoted text (also through a variable, ``OPTIND=x``
with ``x='a[$(..)]'``, and through ``for``, ``read``, ``printf -v``, ``export``, ``getopts``,
``mapfile``). The guard saw no rm: asked instead of denied."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.policy._shell import parse_script
from agentguard.policy._shellmatch import CommandPattern, OptionSet, opt_result
from tests.policy.test_bypass_shell import BASH, _bash_runs, _check_against_bash, sandbox_dir

__all__ = ["sandbox_dir"]  # the fixture, used by name

RM = CommandPattern.parse("rm", open_ended=True)
RF = OptionSet.parse(["-r", "-f"])
X = "x='a[$(rm -rf y)]'; "
EVALUATED = [
    "RANDOM='a[$(rm -rf y)]'",
    "OPTIND='a[$(rm -rf y)]'; ls",
    'SRANDOM="a[\\$(rm -rf y)]"',
    X + "OPTIND=x",
    X + "OPTIND+=x",
    X + "HISTCMD=x",
    X + "for OPTIND in x; do :; done",
    "read RANDOM <<< 'a[$(rm -rf y)]'",
    "printf -v OPTIND 'a[$(rm -rf y)]'",
    X + "export OPTIND=x",
    X + "declare OPTIND=x",
    "mapfile -t OPTIND <<< 'a[$(rm -rf y)]'",
    X + "getopts x: OPTIND -x x",
]


@pytest.mark.parametrize("command", EVALUATED)
def test_a_value_given_to_an_integer_variable_is_not_ruled_out(command: str) -> None:
    assert opt_result(command, RM, RF) is not False


def test_numbers_stay_decidable() -> None:
    assert parse_script("OPTIND=1; ls").unknown is None
    assert opt_result("OPTIND=1; RANDOM=42; ls", RM, RF) is False


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("command", EVALUATED)
def test_bash_runs_rm_there(sandbox_dir: Path, command: str) -> None:
    assert ["rm", "-rf", "y"] in _bash_runs(sandbox_dir, command)
    _check_against_bash(sandbox_dir, command)
