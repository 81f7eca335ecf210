"""git reads aliases from config files a line can name: ``git -c include.path=f p`` (or
``includeIf.<cond>.path``) reads ``f``, ``HOME=.`` and ``XDG_CONFIG_HOME=.`` move the global config
into the workspace, ``GIT_DIR``/``--git-dir`` another repository's config. With ``[alias] p = push``
there, ``git p`` pushes; the guard saw subcommand ``p``: asked, not denied (as ``-c alias.p=push``
and ``GIT_CONFIG_*`` were before them)."""

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
CONFIGURED = [
    "git -c include.path=/tmp/aliases p",
    "git -c Include.Path=/tmp/aliases p",
    "git -c includeIf.onbranch:main.path=/tmp/aliases p",
    "HOME=. git p",
    "XDG_CONFIG_HOME=. git p",
    "export HOME=.; git p",
    "env HOME=. git p",
    "GIT_DIR=repo git p",
    "GIT_COMMON_DIR=repo git p",
    "git --git-dir=repo p",
    "git --git-dir repo p",
]


@pytest.mark.parametrize("command", CONFIGURED)
def test_git_config_from_another_file_is_not_ruled_out(command: str) -> None:
    assert cmd_any_result(command, PUSH) is not False


@pytest.mark.parametrize("command", CONFIGURED)
def test_default_policy_denies_it(command: str, workspace: Path) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace)
    assert decide(engine, "shell.run", command=command).effect is Effect.DENY


def test_other_config_stays_decidable() -> None:
    """An alias never renames one of git's own commands, wherever config comes from."""
    for own in ["git --git-dir=.git status", "HOME=/tmp/h git log", "git -c include.path=/f fetch"]:
        assert cmd_any_result(own, PUSH) is False, own
    assert cmd_any_result("git -c color.ui=never log", PUSH) is False
    assert cmd_any_result("git -c core.quotepath=off status", PUSH) is False
    assert cmd_any_result("HOME=/tmp/h make", PUSH) is False


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize("how", ["include", "home"])
def test_git_runs_an_alias_from_a_named_file(tmp_path: Path, how: str) -> None:
    (tmp_path / "aliases").write_text("[alias]\n\tv = version\n")
    (tmp_path / ".gitconfig").write_text("[alias]\n\tv = version\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "nowhere")}
    include = f"include.path={tmp_path / 'aliases'}"  # absolute: git refuses a relative one here
    argv = ["git", "-c", include, "v"] if how == "include" else ["git", "v"]
    if how == "home":
        env["HOME"] = str(tmp_path)
    out = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("git version")
