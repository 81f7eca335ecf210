"""Red team: a pager git starts from the directory it was run in, not the top level.

``git -p version``, ``git help -a``, ``git diff --no-index a b``, ``git rev-parse`` run
``core.pager`` (and ``pager.<cmd>``, ``man.<tool>.cmd`` for ``git help``) before any change to the
top level: ``core.pager = tools/pager.sh`` run in ``sub/`` runs ``sub/tools/pager.sh``, which the
code could make (only ``tools/pager.sh`` at the top level was kept). A relative file in such a line
cannot be kept in every directory: the rw workspace is refused.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox._protect import protected_mounts
from tests.sandbox.rw_rig import git, read_only

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="host git makes the repositories")


@pytest.mark.skipif(shutil.which("script") is None, reason="script(1) gives git a terminal to page to")
def test_git_runs_the_pager_from_a_subdirectory(tmp_path: Path) -> None:
    """Why a relative pager cannot be kept: host git ran ``sub/tools/pager.sh``."""
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    git("-C", str(ws), "config", "core.pager", "tools/pager.sh")
    marker = tmp_path / "host-ran-it"
    (ws / "sub" / "tools").mkdir(parents=True)
    (ws / "sub" / "tools" / "pager.sh").write_text(f"#!/bin/sh\ncat >/dev/null; touch {marker}\n")
    (ws / "sub" / "tools" / "pager.sh").chmod(0o755)
    subprocess.run(
        ["script", "-qc", "git -p version", "/dev/null"],
        cwd=ws / "sub",
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert marker.exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("core.pager", "tools/pager.sh | cat"),
        ("pager.log", "python pager.py"),  # pager.py at the top level: sub/pager.py would run
        ("man.mine.cmd", "./bin/man-viewer"),
        ("browser.mine.path", "bin/browser"),
    ],
)
def test_a_relative_file_in_a_pager_line_refuses_the_rw_workspace(
    tmp_path: Path, key: str, value: str
) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / "pager.py").write_text("import sys\n")
    git("-C", str(ws), "config", key, value)
    with pytest.raises(SandboxError, match="directory git is run in") as caught:
        protected_mounts(str(ws.resolve()))
    assert key in str(caught.value)


def test_a_pager_from_path_or_an_absolute_one_is_not_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    git("-C", str(ws), "config", "core.pager", "delta --features=side-by-side | less -RFX --tabs=4")
    git("-C", str(ws), "config", "pager.log", "/usr/bin/less -S")
    git("-C", str(ws), "config", "pager.diff", "diff-so-fancy | less --tabs=4 -RFX")
    git("-C", str(ws), "config", "man.viewer", "woman")
    assert read_only(ws) == {"/workspace/.git"}
