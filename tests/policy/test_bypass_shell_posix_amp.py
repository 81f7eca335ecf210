"""``&>`` is bash's "stdout and stderr to a file"; a POSIX shell (dash is /bin/sh on Debian, the
sandbox image's base) reads it as ``&`` then ``>``: ``sh -c 'ls &>/dev/null rm -rf x'`` runs ``ls``
in the background and then ``rm -rf x``. The inline script was parsed with bash's grammar and seen
as ``ls`` with arguments: asked, not denied."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine
from agentguard.policy._shell import parse_script
from agentguard.policy._shellmatch import CommandPattern, OptionSet, opt_result

from .conftest import PERMISSIONS, decide

RM = CommandPattern.parse("rm", open_ended=True)
RF = OptionSet.parse(["-r", "-f"])
POSIX = [
    "sh -c 'ls &>/dev/null rm -rf x'",
    "dash -c 'ls &>>log rm -rf x'",
    "env -S 'ls &>/dev/null rm -rf x'",
    "sudo -s 'ls &>/dev/null rm -rf x'",
]


@pytest.mark.parametrize("command", POSIX)
def test_ampersand_redirect_in_a_posix_shell_is_not_ruled_out(command: str) -> None:
    assert opt_result(command, RM, RF) is not False


@pytest.mark.parametrize("command", POSIX[:2])
def test_default_policy_denies_it(command: str, workspace: Path) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace)
    assert decide(engine, "shell.run", command=command).effect is Effect.DENY


def test_bash_reads_it_as_one_redirection() -> None:
    assert parse_script("ls &>/dev/null rm -rf x").commands[0].words == ("ls", "rm", "-rf", "x")
    assert parse_script("ls &>/dev/null x", posix=True).unknown is not None


@pytest.mark.skipif(shutil.which("dash") is None, reason="needs dash")
def test_dash_runs_the_second_command(tmp_path: Path) -> None:
    subprocess.run(["dash", "-c", "true &>/dev/null touch marker; wait"], cwd=tmp_path, check=False)
    assert (tmp_path / "marker").exists()
