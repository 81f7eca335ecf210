"""git subcommands that run a command given on the line: ``git bisect run rm -rf x``,
``git rebase -x 'rm -rf x'`` (``--exec``), ``git submodule foreach 'rm -rf x'`` and the
``filter-branch`` filters run it (an argv, or a script for sh), yet the guard saw only git: asked,
not denied."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.policy._shellmatch import CommandPattern, OptionSet, cmd_any_result, opt_result

from .conftest import PERMISSIONS, decide

RM = CommandPattern.parse("rm", open_ended=True)
RF = OptionSet.parse(["-r", "-f"])
RUNS = [
    "git bisect run rm -rf x",
    "git -C . bisect run sh -c 'rm -rf x'",
    "git rebase -x 'rm -rf x' HEAD~1",
    "git rebase -ix 'rm -rf x' HEAD~1",
    "git rebase -x'rm -rf x' HEAD~1",
    "git rebase --exec 'true; rm -rf x' HEAD~1",
    "git rebase --exec='rm -rf x' HEAD~1",
    "git submodule foreach 'rm -rf x'",
    "git submodule foreach --recursive 'rm -rf x'",
    "git submodule --quiet foreach rm -rf x",
    "git filter-branch --tree-filter 'rm -rf x' HEAD",
    "git filter-branch --index-filter='rm -rf x' HEAD",
]


@pytest.mark.parametrize("command", RUNS)
def test_the_command_git_runs_is_seen(command: str) -> None:
    assert opt_result(command, RM, RF) is True


@pytest.mark.parametrize("command", RUNS)
def test_default_policy_denies_it(command: str, workspace: Path) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace)
    assert decide(engine, "shell.run", command=command).effect is Effect.DENY


def test_a_run_time_command_is_cannot_tell() -> None:
    assert cmd_any_result('git rebase -x "$CMD" HEAD~1', [RM]) is None


def test_other_git_lines_stay_decidable() -> None:
    assert cmd_any_result("git rebase -X theirs main", [RM]) is False
    assert cmd_any_result("git log --format=x rm", [RM]) is False
