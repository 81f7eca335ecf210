"""Red team: code in a rw sandbox runs as the workspace's owner, as the guard does (not root): it can
take write permission off a directory it made a ``.git`` in (``chmod 555 sub``, or the workspace
root), or every permission (``chmod 0 sub``). The rename aside then failed with ``EACCES`` and the
``.git`` stayed, "left in place", for host git to read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="becomes the workspace's owner (uid 1000) to drop root"
)

REPO = Path(__file__).resolve().parents[2]
OWNER = """
import os, sys, subprocess, shutil
from agentguard.sandbox._quarantine import Watch
os.setgid(1000); os.setuid(1000)  # the guard's own python files stay readable: imported before
ws = sys.argv[1]
watch = Watch(ws)
before = watch.snapshot()
LONG = "x" * 250  # a name with no room left for the quarantine suffix
for where in ["sub", "deep/er", "locked", "nox", LONG]:  # what the code does
    os.makedirs(f"{ws}/{where}/.git")
    with open(f"{ws}/{where}/.git/config", "w") as config:
        config.write("[core]\\n\\tfsmonitor = ./evil.sh\\n")
MODES = [("sub", 0o555), ("deep/er", 0o311), ("locked", 0), ("nox", 0o666), ("deep", 0), (LONG, 0o111)]
for where, mode in MODES:
    os.chmod(f"{ws}/{where}", mode)
os.makedirs(f"{ws}/.git")
os.chmod(ws, 0o555)
print("\\n".join(watch.settle(before)))
"""


@pytest.fixture
def workspace() -> Iterator[Path]:
    top = Path(tempfile.mkdtemp(prefix="agentguard-perm-"))  # reachable by uid 1000 (not tmp_path's 0700)
    try:
        top.chmod(0o711)
        ws = top / "ws"
        ws.mkdir()
        os.chown(ws, 1000, 1000)
        yield ws
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", str(top)], check=False)
        shutil.rmtree(top)


def test_new_git_dirs_in_directories_made_unwritable_are_set_aside(workspace: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", OWNER, str(workspace)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "left in place" not in proc.stdout, proc.stdout
    subprocess.run(["chmod", "-R", "u+rwx", str(workspace)], check=True)  # root, to look
    assert not (workspace / ".git").exists()
    assert not (workspace / "sub" / ".git").exists()
    assert not (workspace / "deep" / "er" / ".git").exists()
    assert not (workspace / "locked" / ".git").exists()
    assert not (workspace / "nox" / ".git").exists()
    assert sorted(line.split(" -> ")[0] for line in proc.stdout.splitlines()) == [
        ".git",
        "deep",  # likewise
        "locked",  # cannot be listed: set aside as a whole
        "nox/.git",  # listed, not entered
        "sub/.git",
        "x" * 250,  # cannot be listed either: set aside as a whole, its new name shortened
    ]
    assert not (workspace / ("x" * 250)).exists()
