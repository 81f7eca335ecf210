"""Reload races: a file added while the watch is being taken must still be watched afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

from agentguard.errors import PolicyError
from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine, _reload

from .conftest import PERMISSIONS

CALL = ToolCall(agent="a", tool="fs.read", arguments={"path": "/x"})


def test_a_file_added_during_the_watch_listing_is_watched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory is stamped before it is listed: a file created after the listing changes the
    directory's stamp, so the next refresh lists (and then watches) it; an edit adding a deny to it
    is never missed."""
    directory = tmp_path / "p"
    directory.mkdir()
    shutil.copyfile(PERMISSIONS / "model.conf", directory / "model.conf")
    (directory / "a.csv").write_text("")
    engine = PolicyEngine.load(directory, workspace=directory)
    listing = _reload.policy_files

    def listed_then_added(folder: Path) -> list[Path]:
        found = listing(folder)
        if not (folder / "z.csv").exists():  # created just after the listing, before anything else
            (folder / "z.csv").write_text("p, *, fs.read, *, allow\n")
        return found

    monkeypatch.setattr(_reload, "policy_files", listed_then_added)
    engine.reload()
    monkeypatch.setattr(_reload, "policy_files", listing)
    engine.refresh()
    assert engine.decide(CALL).effect is Effect.ALLOW
    (directory / "z.csv").write_text("p, *, fs.read, *, deny\n")
    engine.refresh()
    assert engine.decide(CALL).effect is Effect.DENY


def test_an_edit_that_keeps_size_inode_and_mtime_is_noticed(tmp_path: Path) -> None:
    """``cp -p``, ``rsync -a`` and ``tar x`` write a file in place and set its mtime back (and a coarse
    clock gives two writes one mtime): the change time still moves, so a new deny is not missed."""
    directory = tmp_path / "p"
    directory.mkdir()
    shutil.copyfile(PERMISSIONS / "model.conf", directory / "model.conf")
    policy = directory / "a.csv"
    policy.write_text("p, *, fs.read, *, allow\n")
    engine = PolicyEngine.load(directory, workspace=directory)
    before = policy.stat()
    with policy.open("r+") as handle:  # same inode, same size
        handle.write("p, *, fs.read, *, deny \n")
    os.utime(policy, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert engine.refresh() is True
    assert engine.decide(CALL).effect is Effect.DENY


def test_a_dangling_symlinked_policy_file_fails_closed_and_is_watched(tmp_path: Path) -> None:
    """A ``*.csv`` symlink whose target is missing (an unmounted share) is a policy file that cannot be
    read: the policy fails closed rather than loading without its rules, and the target coming back
    is noticed."""
    directory = tmp_path / "p"
    directory.mkdir()
    shutil.copyfile(PERMISSIONS / "model.conf", directory / "model.conf")
    (directory / "a.csv").write_text("p, *, fs.read, *, allow\n")
    target = tmp_path / "shared" / "deny.csv"
    (directory / "deny.csv").symlink_to(target)
    engine = PolicyEngine(directory, workspace=directory)
    with contextlib.suppress(PolicyError):
        engine.reload()
    assert engine.decide(CALL).effect is Effect.DENY
    assert engine.load_error is not None
    target.parent.mkdir()
    target.write_text("p, *, fs.read, *, deny\n")
    engine.refresh()
    assert engine.load_error is None
    assert engine.decide(CALL).effect is Effect.DENY
    assert "deny.csv" in [path.name for path in engine.files]
