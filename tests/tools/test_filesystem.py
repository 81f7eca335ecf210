"""The file tools open exactly the path they are given, beneath the workspace, following no symlink."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard.tools import _beneath
from agentguard.tools.filesystem import UnsafePath, Workspace


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test with the kernel's openat2 (when this kernel has it) and with the portable walk."""
    if request.param == "walk":
        monkeypatch.setattr(_beneath._OPENAT2, "_syscall", None)
    elif not _beneath._OPENAT2.available:
        pytest.skip("openat2 is not available here")
    return str(request.param)


@pytest.fixture
def ws(tmp_path: Path, resolver: str) -> Workspace:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('hi')\n")
    return Workspace(root)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    target = tmp_path / "outside"
    target.mkdir()
    (target / "authorized_keys").write_text("ssh-ed25519 AAAA good\n")
    return target


def test_write_ignores_a_symlink_planted_at_the_old_temp_name(ws: Workspace, outside: Path) -> None:
    keys = outside / "authorized_keys"
    (ws.root / ".notes.txt.agentguard-tmp").symlink_to(keys)
    ws.write("notes.txt", "hello")
    assert keys.read_text() == "ssh-ed25519 AAAA good\n"
    assert (ws.root / "notes.txt").read_text() == "hello"
    assert not (ws.root / "notes.txt").is_symlink()


def test_write_leaves_no_temp_file_and_keeps_the_mode(ws: Workspace) -> None:
    script = ws.root / "run.sh"
    script.write_text("old")
    script.chmod(0o750)
    ws.write("run.sh", "new")
    assert script.read_text() == "new"
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert sorted(p.name for p in ws.root.iterdir()) == ["run.sh", "src"]


def test_write_creates_missing_directories(ws: Workspace) -> None:
    assert ws.write(str(ws.root / "a" / "b" / "c.txt"), "x") == "wrote 1 bytes to a/b/c.txt"
    assert (ws.root / "a" / "b" / "c.txt").read_text() == "x"


@pytest.mark.parametrize("op", ["read", "write", "list"])
def test_a_symlinked_directory_on_the_way_is_refused(ws: Workspace, outside: Path, op: str) -> None:
    (ws.root / "docs").symlink_to(outside, target_is_directory=True)
    calls: dict[str, Callable[[], object]] = {
        "read": lambda: ws.read("docs/authorized_keys"),
        "write": lambda: ws.write("docs/authorized_keys", "ssh-rsa evil"),
        "list": lambda: ws.list("docs"),
    }
    with pytest.raises(UnsafePath):
        calls[op]()
    assert (outside / "authorized_keys").read_text() == "ssh-ed25519 AAAA good\n"


def test_a_symlink_inside_the_workspace_is_refused_at_use(ws: Workspace) -> None:
    """The guard resolves in-workspace links when it decides and hands the tool the real path."""
    (ws.root / "link.py").symlink_to(ws.root / "src" / "app.py")
    with pytest.raises(UnsafePath):
        ws.read("link.py")
    with pytest.raises(UnsafePath):
        ws.write("link.py", "x")
    assert (ws.root / "src" / "app.py").read_text() == "print('hi')\n"
    assert ws.read(str(ws.root / "src" / "app.py")) == "print('hi')\n"


@pytest.mark.parametrize(
    "path", ["../outside/authorized_keys", "src/../../outside/authorized_keys", "/etc/passwd"]
)
def test_paths_outside_or_with_dotdot_are_refused(ws: Workspace, outside: Path, path: str) -> None:
    with pytest.raises(UnsafePath):
        ws.read(path)
    with pytest.raises(UnsafePath):
        ws.write(path, "x")


def test_relative_paths_are_taken_from_the_workspace_not_the_cwd(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "src").mkdir(parents=True)
    (elsewhere / "src" / "app.py").write_text("other")
    monkeypatch.chdir(elsewhere)
    assert ws.read("src/app.py") == "print('hi')\n"


def test_list_marks_directories_and_does_not_follow_links(ws: Workspace, outside: Path) -> None:
    (ws.root / "out").symlink_to(outside, target_is_directory=True)
    assert ws.list(".") == ["out", "src/"]
    assert ws.list(str(ws.root / "src")) == ["app.py"]


def test_read_refuses_fifos_and_directories(ws: Workspace) -> None:
    os.mkfifo(ws.root / "pipe")
    with pytest.raises(OSError):
        ws.read("pipe")  # O_NONBLOCK is not set, but a FIFO is not a regular file: refused after open


def test_a_file_that_grew_after_its_size_was_read_is_refused_not_cut(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fstat said small, the read found more: a cut at the limit could show half a secret."""
    from agentguard.tools.filesystem import MAX_READ_BYTES

    (ws.root / "grows.txt").write_bytes(b"a " * (MAX_READ_BYTES // 2) + b"ghp_" + b"A1b2C3d4E5" * 4)
    real_fstat = os.fstat

    def fstat_before_it_grew(fd: int) -> os.stat_result:
        seen = real_fstat(fd)
        if not stat.S_ISREG(seen.st_mode):
            return seen
        fields = list(seen)
        fields[stat.ST_SIZE] = 10  # the size when it was checked
        return os.stat_result(fields)

    monkeypatch.setattr(os, "fstat", fstat_before_it_grew)
    with pytest.raises(ValueError, match="grew past"):
        ws.read("grows.txt")
