"""Red team: an alias that sets, for the command it runs, where hooks or configuration come from.

``alias.c = -c core.hooksPath=githooks commit``: ``git c`` runs ``githooks/pre-commit``, a directory
no config file names (so it stayed writable, and a hook the code added there ran);
``-c include.path=conf/extra.gitconfig`` reads a config file whose own commands were not read.
What such a line runs cannot be told: the rw workspace is refused. So is a path going down and back
up (``build/../tools/x.sh``): the directory it enters is not kept, and could become a link.
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


def test_a_path_going_down_and_back_up_refuses_the_rw_workspace(tmp_path: Path) -> None:
    """``sh build/../tools/strip.sh``: ``tools/strip.sh`` is kept, but ``build`` is not: code could
    make it a link to ``x/y``, and the host would run ``x/tools/strip.sh``."""
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / "build").mkdir()
    (ws / "tools").mkdir()
    (ws / "tools" / "strip.sh").write_text("#!/bin/sh\n")
    git("-C", str(ws), "config", "filter.x.clean", "sh build/../tools/strip.sh")
    with pytest.raises(SandboxError, match=r"filter\.x\.clean is a command.*goes down and back up"):
        protected_mounts(str(ws.resolve()))


def test_a_path_leaving_the_top_level_is_not_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    git("-C", str(ws), "config", "filter.x.clean", "sh ../shared/tools/strip.sh ./x/./y.sh")
    assert read_only(ws) == {"/workspace/.git"}


def test_an_absolute_path_outside_going_down_and_up_is_not_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    git("-C", str(ws), "config", "filter.x.clean", "/usr/lib/../bin/env true")
    assert read_only(ws) == {"/workspace/.git"}
