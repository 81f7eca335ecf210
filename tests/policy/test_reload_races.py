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


TICK = 10**15  # ns: a file-system clock that ticks every ~11.6 days, so every write here is in one tick


def _coarse(monkeypatch: pytest.MonkeyPatch) -> None:
    """File times from a coarse clock: two writes of the same size in one tick leave the same stat."""
    real = _reload.stat

    def coarse_stat(path: str) -> tuple[int, int, int, int] | None:
        st = real(path)
        return None if st is None else (st[0] // TICK * TICK, st[1] // TICK * TICK, st[2], st[3])

    monkeypatch.setattr(_reload, "stat", coarse_stat)
    monkeypatch.setattr(_reload, "RACY_NS", 2 * TICK)


@pytest.mark.parametrize("file", ["a.csv", "grants.csv"])
def test_two_same_size_writes_in_one_clock_tick_are_both_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file: str
) -> None:
    """The stat of a file written within one clock tick of being read cannot tell a second write
    of the same size from the first: such a stamp holds the content's digest, so the edit (here a
    rule that allowed fs.read renamed away) is seen and the old allow stops at once."""
    _coarse(monkeypatch)
    directory = tmp_path / "p"
    directory.mkdir()
    shutil.copyfile(PERMISSIONS / "model.conf", directory / "model.conf")
    policy = directory / file
    policy.write_text("p, *, fs.read, *, allow\n")
    extra = [policy] if file == "grants.csv" else []
    engine = PolicyEngine.load(directory, workspace=directory, extra_files=extra)
    assert engine.decide(CALL).effect is Effect.ALLOW
    with policy.open("r+") as handle:  # same inode, same size, same (coarse) times
        handle.write("p, *, fs.list, *, allow\n")
    engine.refresh()
    assert engine.decide(CALL).effect is Effect.DENY


def test_a_racy_stamp_settles_once_its_tick_is_past(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A racy stamp whose content still matches is kept, and replaced by the plain stat once the
    tick is long past, so the content is not hashed on every later check."""
    path = tmp_path / "a.csv"
    path.write_text("p, *, fs.read, *, allow\n")
    monkeypatch.setattr(_reload, "RACY_NS", 10**18)  # everything is recent
    monkeypatch.setattr(_reload, "FINE_RACY_NS", 10**18)
    old = _reload.stamp(str(path))
    assert old is not None
    assert len(old) == 5
    assert _reload.unchanged(str(path), old) == (True, old)
    monkeypatch.setattr(_reload, "RACY_NS", 0)  # now nothing is
    monkeypatch.setattr(_reload, "FINE_RACY_NS", 0)
    same, kept = _reload.unchanged(str(path), old)
    assert same
    assert kept == old[:4]
    path.write_text("p, *, fs.read, *, deny!\n")
    assert _reload.unchanged(str(path), old)[0] is False


def test_the_racy_window_follows_the_file_systems_clock() -> None:
    """Whole-second times (FAT, ext3, HFS+) keep a stamp racy for RACY_NS; finer times come from the
    kernel's coarse clock, so a stamp settles after FINE_RACY_NS (every check hashes the file
    meanwhile: at 100,000 rules that was milliseconds a call for two seconds after each edit)."""
    import time

    now = time.time_ns()
    fine = now - 3 * _reload.FINE_RACY_NS + 123_457  # 0.3 s ago, a time with nanoseconds
    whole = (now - 3 * _reload.FINE_RACY_NS) // 10**9 * 10**9  # about as old, whole seconds
    assert not _reload._racy((fine, fine, 10, 1))
    assert _reload._racy((whole, whole, 10, 1))
    recent = now - _reload.FINE_RACY_NS // 10 + 7
    assert _reload._racy((recent, recent, 10, 1))
    assert not _reload._racy((now - _reload.RACY_NS - 1, now - _reload.RACY_NS - 1, 10, 1))
