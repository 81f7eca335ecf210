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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentguard.sandbox._protect import protected_mounts
from agentguard.sandbox._quarantine import Watch

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


def test_a_new_git_in_a_directory_that_cannot_be_listed_is_set_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chmod 111 x``: walking the workspace skipped ``x``, while ``cd x; git status`` opens
    ``x/.git`` by name and runs its ``core.fsmonitor``. (Root lists any directory: the workspace
    owner's view, no read permission no listing, is what ``scandir``/``listdir`` are given here.)"""
    scandir, listdir = os.scandir, os.listdir

    def unreadable(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(path: Any = ".") -> Any:
            if not isinstance(path, int) and not os.stat(path).st_mode & 0o400:
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real(path)

        return call

    monkeypatch.setattr(os, "scandir", unreadable(scandir))
    monkeypatch.setattr(os, "listdir", unreadable(listdir))
    ws = (tmp_path / "ws").resolve()
    ws.mkdir()
    old = ws / "old"
    (old / ".git").mkdir(parents=True)
    old.chmod(0o111)
    watch = Watch(str(ws))
    before = watch.snapshot()
    (ws / "x" / ".git" / "objects").mkdir(parents=True)
    (ws / "x" / ".git" / "config").write_text("[core]\n\tfsmonitor = touch ran\n")
    (ws / "x").chmod(0o111)
    try:
        moved = watch.settle(before)
        assert [m.split(" -> ")[0] for m in moved] == ["x"]
        assert not (ws / "x").exists()
        assert "/workspace/old" in {m["Target"] for m in protected_mounts(str(ws)) if m["ReadOnly"]}
    finally:
        for path in (old, *ws.iterdir()):
            path.chmod(0o755)


@pytest.mark.parametrize("name", [".g\u200cit", "\ufeff.GIT", ".gi\u206at"])
def test_a_new_git_spelled_with_characters_hfs_ignores_is_set_aside(tmp_path: Path, name: str) -> None:
    """On an HFS+ volume (macOS) these names are the same file as ``.git``: what host git opens."""
    ws = (tmp_path / "ws").resolve()
    ws.mkdir()
    watch = Watch(str(ws))
    before = watch.snapshot()
    (ws / "sub" / name).mkdir(parents=True)
    moved = watch.settle(before)
    assert [m.split(" -> ")[0] for m in moved] == [f"sub/{name}"]
    assert not (ws / "sub" / name).exists()
