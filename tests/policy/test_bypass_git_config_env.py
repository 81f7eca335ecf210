"""git also reads config from the environment: ``GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=alias.p
GIT_CONFIG_VALUE_0=push git p`` pushes (so do ``GIT_CONFIG_PARAMETERS``, and ``GIT_CONFIG_GLOBAL``
naming a file with an alias), through a prefix, ``export`` earlier on the line or ``env``; the guard
saw subcommand ``p``: asked, not denied."""

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
ENV = "GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=alias.p GIT_CONFIG_VALUE_0=push"
CONFIGURED = [
    f"{ENV} git p",
    f"export {ENV}; git p",
    f"{ENV}; export GIT_CONFIG_COUNT GIT_CONFIG_KEY_0 GIT_CONFIG_VALUE_0; git p",
    f"env {ENV} git p",
    "GIT_CONFIG_PARAMETERS=\"'alias.p'='push'\" git p",
    "GIT_CONFIG_GLOBAL=aliases git p",
    f"sudo {ENV} git p",
]


@pytest.mark.parametrize("command", CONFIGURED)
def test_git_config_from_the_environment_is_not_ruled_out(command: str) -> None:
    assert cmd_any_result(command, PUSH) is not False


@pytest.mark.parametrize("command", CONFIGURED)
def test_default_policy_denies_it(command: str, workspace: Path) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace)
    assert decide(engine, "shell.run", command=command).effect is Effect.DENY


def test_other_variables_stay_decidable() -> None:
    assert cmd_any_result("GIT_PAGER=cat LANG=C git log", PUSH) is False
    assert cmd_any_result(f"{ENV} make", PUSH) is False


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_runs_the_alias_from_the_environment(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "alias.v"}
    env["GIT_CONFIG_VALUE_0"] = "version"
    out = subprocess.run(["git", "v"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("git version")
