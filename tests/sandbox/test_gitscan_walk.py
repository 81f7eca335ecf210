"""The workspace walk (one ``scandir`` per directory) finds what the ``os.walk`` one it replaced found."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from agentguard.sandbox._gitscan import bare_head, git_entries, is_dot_git


def walk_reference(root: Path) -> Iterator[Path]:
    """The previous walk, kept as the reference."""
    unlisted: list[Path] = []
    for top, dirs, files in os.walk(
        root, onerror=lambda e: unlisted.append(Path(e.filename)), followlinks=False
    ):
        here = Path(top)
        if bare_head(here, dirs + files) is not None:
            yield here
        for name in [d for d in dirs if is_dot_git(d)]:
            dirs.remove(name)
            yield here / name
        for name in files:
            if is_dot_git(name):
                yield here / name
    yield from (d for d in unlisted if d != root)


def test_the_walk_finds_what_the_previous_one_found(tmp_path: Path) -> None:
    root = (tmp_path / "ws").resolve()
    outside = tmp_path / "outside"
    (outside / ".git").mkdir(parents=True)
    for rel in [
        ".git/objects",
        "a/.GIT",
        "a/b/.g\u200cit",
        "node_modules/x/.git",
        "bare/objects",
        "bare/refs",
    ]:
        (root / rel).mkdir(parents=True)
    (root / "bare" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "sub").mkdir()
    (root / "sub" / ".git").write_text("gitdir: ../.git\n")  # a gitlink
    (root / "linked").symlink_to(outside)  # a .git behind a link: not entered
    (root / "lb" / "refs").mkdir(parents=True)  # a bare repository whose objects is a link
    (root / "lb" / "objects").symlink_to(outside)
    # HEAD as this file system opens it (``Head`` only where names fold: test_gitscan_git_dirs)
    (root / "lb" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "dotlink").mkdir()
    (root / "dotlink" / ".git").symlink_to(outside / ".git")
    (root / "a" / "readme.git").write_text("not a git\n")
    found = sorted(git_entries(root))
    assert found == sorted(walk_reference(root))
    assert root / "node_modules" / "x" / ".git" in found
    assert root / "lb" in found
    assert root / "dotlink" / ".git" in found
    assert not [p for p in found if "linked" in p.parts]
