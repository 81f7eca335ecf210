"""Red team: a file a configured command runs, named through a symlink in the workspace that points
out of it.

``alias.fmt = !tools/fmt.sh`` with ``tools/fmt.sh -> /opt/fmt/fmt.sh`` (or ``tools -> ../shared``):
the file is outside, so nothing was kept, but the link is in the workspace. Code replaced the link
with a script of its own (or with ``tools -> /proc/self/cwd/evil``, whose name the sweep had
already seen), and the host's next ``git fmt`` ran it. Refused, as a link on the way to any kept
path is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox._protect import protected_mounts
from tests.sandbox.rw_rig import git

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="host git makes the repositories")


@pytest.mark.parametrize("linked", ["file", "directory"])
def test_a_command_named_through_a_link_out_of_the_workspace_refuses_it(tmp_path: Path, linked: str) -> None:
    outside = tmp_path / "shared"
    outside.mkdir()
    (outside / "fmt.sh").write_text("#!/bin/sh\n")
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    if linked == "file":
        (ws / "tools").mkdir()
        (ws / "tools" / "fmt.sh").symlink_to(outside / "fmt.sh")
    else:
        (ws / "tools").symlink_to(outside)
    git("-C", str(ws), "config", "alias.fmt", "!tools/fmt.sh")
    with pytest.raises(SandboxError, match="symlink") as caught:
        protected_mounts(str(ws.resolve()))
    assert "tools" in str(caught.value)


def test_a_missing_command_below_a_link_out_of_the_workspace_refuses_it(tmp_path: Path) -> None:
    """``tools`` links out and ``tools/x.sh`` is not there: code could point ``tools`` back in."""
    outside = tmp_path / "shared"
    outside.mkdir()
    ws = tmp_path / "ws"
    git("init", "-q", str(ws))
    (ws / "tools").symlink_to(outside)
    git("-C", str(ws), "config", "core.fsmonitor", "tools/watch.sh")
    with pytest.raises(SandboxError, match="symlink"):
        protected_mounts(str(ws.resolve()))
