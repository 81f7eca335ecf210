"""Red team: a symlink the code makes on the way to a missing file a configured command runs.

``core.fsmonitor = tools/watch.sh`` with no ``tools`` yet: code made ``tools`` a link to
``/proc/self/cwd/evil``. The guard resolves that against its own current directory (outside the
workspace: nothing to set aside); host git's ``sh`` resolves it against the top level it runs the
command from, and ran ``evil/watch.sh``, which the code wrote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agentguard.sandbox._quarantine import Watch
from tests.sandbox.rw_rig import git

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="host git makes the repositories"),
    pytest.mark.skipif(not os.path.isdir("/proc/self/cwd"), reason="/proc/self/cwd (Linux)"),
]


def test_a_link_made_on_the_way_to_a_missing_command_is_set_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    git("-C", str(ws), "config", "core.fsmonitor", "tools/watch.sh")  # not there yet
    elsewhere = tmp_path / "guard-cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    watch = Watch(str(ws.resolve()))
    before = watch.snapshot()
    marker = tmp_path / "host-ran-it"
    (ws / "evil").mkdir()  # what the code does in the sandbox
    (ws / "evil" / "watch.sh").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (ws / "evil" / "watch.sh").chmod(0o755)
    (ws / "tools").symlink_to("/proc/self/cwd/evil")
    moved = [m.split(" -> ")[0] for m in watch.settle(before)]
    subprocess.run(["git", "-C", str(ws), "status"], capture_output=True, check=False)
    assert not marker.exists()
    assert "tools" in moved
