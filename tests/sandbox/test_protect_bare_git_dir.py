"""Red team: a directory git takes as a git directory without any ``.git`` name (a bare repository).

Git's discovery checks ``<dir>/.git`` and then whether ``<dir>`` itself is a git directory
(``HEAD``, ``objects/``, ``refs/``). Code in a rw sandbox could make ``sub/HEAD``, ``sub/objects``,
``sub/refs`` and a ``sub/config`` with ``core.worktree`` and ``core.fsmonitor``: the user's next
``git status`` in ``sub`` on the host runs the command. No Docker needed: what is checked is what
the guard sets aside after a call and mounts read-only before one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agentguard.sandbox._protect import Watch, protected_mounts

Q = ".agentguard-quarantine-"


def _bare(directory: Path, marker: Path) -> None:
    (directory / "objects").mkdir(parents=True)
    (directory / "refs").mkdir()
    (directory / "HEAD").write_text("ref: refs/heads/main\n")
    (directory / "config").write_text(
        f'[core]\n\tbare = false\n\tworktree = .\n\tfsmonitor = "touch {marker}; false"\n'
    )


@pytest.mark.parametrize("where", ["sub", "a/b", "."])
def test_a_new_bare_git_directory_is_set_aside(tmp_path: Path, where: str) -> None:
    ws = (tmp_path / "ws").resolve()
    ws.mkdir()
    watch = Watch(str(ws))
    before = watch.snapshot()
    marker = tmp_path / "ran"
    _bare(ws / where, marker)
    moved = watch.settle(before)
    head = Path(os.path.normpath(f"{where}/HEAD")).as_posix()
    assert [m.split(" -> ")[0] for m in moved] == [head]
    assert not (ws / where / "HEAD").exists()
    assert [p for p in (ws / where).iterdir() if p.name.startswith("HEAD" + Q)]
    if shutil.which("git"):
        subprocess.run(["git", "status"], cwd=ws / where, capture_output=True, check=False)
        assert not marker.exists()


def test_a_bare_git_directory_already_there_is_kept_and_mounted_read_only(tmp_path: Path) -> None:
    ws = (tmp_path / "ws").resolve()
    ws.mkdir()
    _bare(ws / "sub", tmp_path / "ran")
    watch = Watch(str(ws))
    before = watch.snapshot()
    assert watch.settle(before) == ()
    read_only = {m["Target"] for m in protected_mounts(str(ws)) if m["ReadOnly"]}
    assert "/workspace/sub" in read_only


def test_a_plain_head_file_is_not_a_git_directory(tmp_path: Path) -> None:
    ws = (tmp_path / "ws").resolve()
    ws.mkdir()
    watch = Watch(str(ws))
    before = watch.snapshot()
    (ws / "docs").mkdir()
    (ws / "docs" / "HEAD").write_text("notes\n")
    (ws / "docs" / "refs").mkdir()
    assert watch.settle(before) == ()
    assert protected_mounts(str(ws)) == []
