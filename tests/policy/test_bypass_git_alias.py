"""A git alias given on the command line renames any subcommand: ``git -c alias.p=push p`` pushes,
but the guard saw a subcommand ``p`` and no push (asked instead of denied, and not a ``net_cmd`` in
the trifecta example). An alias (or a config value from the environment, --config-env) among git's
global options now makes the line cannot tell."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.policy._shellmatch import CommandPattern, cmd_any_result

from .conftest import PERMISSIONS, decide

PUSH = [CommandPattern.parse("git push*")]
ALIASED = [
    "git -c alias.p=push p",
    "git -c Alias.P=push p origin",
    "git -C . -c 'alias.p=!git push' p",
    "git --config-env=alias.p=X p",
    "git --config-env alias.p=X p",
    'git -c "$A" p',
    "sudo git -c alias.p=push p",
]


@pytest.mark.parametrize("command", ALIASED)
def test_an_inline_alias_is_not_ruled_out(command: str) -> None:
    assert cmd_any_result(command, PUSH) is not False


@pytest.mark.parametrize("command", ALIASED[:5])
def test_default_policy_denies_it(command: str, workspace: Path) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace)
    assert decide(engine, "shell.run", command=command).effect is Effect.DENY


def test_other_config_stays_decidable() -> None:
    assert cmd_any_result("git -c core.quotepath=off status", PUSH) is False
    assert cmd_any_result("git -c user.name=x commit -m alias.p", PUSH) is False


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_runs_the_alias(tmp_path: Path) -> None:
    out = subprocess.run(
        ["git", "-c", "Alias.V=version", "v"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("git version")
