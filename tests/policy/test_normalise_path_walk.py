"""``normalise_path`` answers in one ``lstat`` when the resolved path is there and not a link; every
other path takes the component walk. Both must give what the walk alone gives: a symlink loop
anywhere (the path, a parent, a link to a loop) is refused, everything else resolves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentguard.policy._paths import normalise_path


def _walk_only(value: str, workspace: str) -> str | None:
    """The resolution before the one-lstat answer: realpath, then no link left on any component."""
    path = value if os.path.isabs(value) else os.path.join(workspace, value)
    try:
        resolved = os.path.realpath(path)
        probe, parent = resolved, os.path.dirname(resolved)
        while probe != parent:
            if os.path.islink(probe):
                return None
            probe, parent = parent, os.path.dirname(parent)
    except (OSError, ValueError):
        return None
    return resolved


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "app.py").write_text("x")
    (ws / "file.txt").write_text("x")
    (ws / "loop").symlink_to(ws / "loop")
    (ws / "a").symlink_to(ws / "b")
    (ws / "b").symlink_to(ws / "a")
    (ws / "to-loop").symlink_to(ws / "loop")
    (ws / "dangling").symlink_to(ws / "nowhere")
    (ws / "good").symlink_to(ws / "src")
    (ws / "up").symlink_to(tmp_path)
    return ws


VALUES = [
    "src/app.py",
    "src/new.py",
    "src",
    ".",
    "loop",
    "loop/x",
    "loop/../src/app.py",
    "a",
    "a/x",
    "b/file",
    "to-loop",
    "to-loop/x",
    "dangling",
    "dangling/x",
    "good/app.py",
    "good/../file.txt",
    "file.txt/x",
    "file.txt",
    "up/ws/loop",
    "up/ws/src/app.py",
    "missing/deeper/x",
]


@pytest.mark.parametrize("value", VALUES)
def test_the_one_lstat_answer_is_the_walks_answer(tree: Path, value: str) -> None:
    assert normalise_path(value, str(tree)) == _walk_only(value, str(tree))


def test_loops_are_refused_and_real_files_resolve(tree: Path) -> None:
    for value in ("loop", "loop/x", "a/x", "to-loop/x", "up/ws/loop"):
        assert normalise_path(value, str(tree)) is None, value
    assert normalise_path("good/app.py", str(tree)) == str(tree / "src" / "app.py")
    assert normalise_path("src/new.py", str(tree)) == str(tree / "src" / "new.py")
