"""Red team: setting a new ``.git`` aside must never replace what already has the quarantine name.

A plain ``rename`` replaces an existing file (or empty directory) at the new name: code racing the
sweep could have put something there, or a user's earlier quarantined ``.git`` could be lost. The
sweep renames with ``RENAME_NOREPLACE`` and takes another name when one is taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentguard.sandbox import _quarantine
from agentguard.sandbox._quarantine import Watch


@pytest.mark.parametrize("renameat2", [True, False], ids=["renameat2", "fallback"])
@pytest.mark.parametrize("kind", ["file", "directory"])
def test_a_taken_quarantine_name_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, renameat2: bool
) -> None:
    if not renameat2:  # an old libc, macOS, or a file system that refuses the flag
        monkeypatch.setattr(_quarantine, "_RENAMEAT2", None)
    elif _quarantine._RENAMEAT2 is None:
        pytest.skip("this libc has no renameat2")
    ws = tmp_path.resolve()
    watch = Watch(str(ws))
    before = watch.snapshot()
    taken = ws / ".git.agentguard-quarantine-deadbeef"
    if kind == "file":
        taken.write_text("the user's earlier quarantined gitlink\n")
        (ws / ".git").write_text("gitdir: /elsewhere\n")
    else:
        taken.mkdir()  # an empty directory: rename(2) would replace it
        (ws / ".git").mkdir()
        (ws / ".git" / "config").write_text("[core]\n")
    names: Iterator[str] = iter(["deadbeef", "cafef00d", "0badf00d"])
    monkeypatch.setattr(_quarantine.secrets, "token_hex", lambda _n: next(names))
    moved = watch.settle(before)
    assert moved == (".git -> .git.agentguard-quarantine-cafef00d",)
    assert not (ws / ".git").exists()
    aside = ws / ".git.agentguard-quarantine-cafef00d"
    if kind == "file":
        assert taken.read_text() == "the user's earlier quarantined gitlink\n"
        assert aside.read_text() == "gitdir: /elsewhere\n"
    else:
        assert list(taken.iterdir()) == []
        assert (aside / "config").read_text() == "[core]\n"
