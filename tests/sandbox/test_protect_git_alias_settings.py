"""Red team: an alias that sets, for the command it runs, where hooks or configuration come from.

``alias.c = -c core.hooksPath=githooks commit``: ``git c`` runs ``githooks/pre-commit``, a directory
no config file names (so it stayed writable, and a hook the code added there ran);
``-c include.path=conf/extra.gitconfig`` reads a config file whose own commands were not read.
What such a line runs cannot be told: the rw workspace is refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox._protect import protected_mounts
from tests.sandbox.rw_rig import git, read_only

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="host git makes the repositories")


@pytest.mark.parametrize(
    "value",
    [
        "-c core.hooksPath=githooks commit",
        "!git -c core.hooksPath=.githooks commit",
        "-c include.path=../conf/extra.gitconfig status",
        "-c init.templateDir=templates init",
    ],
)
def test_an_alias_moving_hooks_or_config_into_the_workspace_refuses_it(tmp_path: Path, value: str) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / "githooks").mkdir()
    git("-C", str(ws), "config", "alias.c", value)
    with pytest.raises(SandboxError, match=r"alias\.c is a command.*set for one command"):
        protected_mounts(str(ws.resolve()))


def test_an_alias_turning_hooks_off_is_not_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    git("-C", str(ws), "config", "alias.nc", "-c core.hooksPath=/dev/null commit --no-verify")
    assert read_only(ws) == {"/workspace/.git"}
