"""Red team: ``fs.write`` copied set-user-ID and set-group-ID bits onto the content it wrote.

The rewrite is a new file (owned by the guard's user) that took the old file's permission bits,
all of them: a ``4755`` file belonging to someone else came back as a set-user-ID program of the
guard's user (root, when the guard runs as root) with the agent's content. The decided call writes
content; the kernel itself drops these bits when a file is written. Now only ``rwx`` bits are kept.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from agentguard.tools.filesystem import Workspace


@pytest.mark.parametrize("mode", [0o4755, 0o2755, 0o6750, 0o1644])
def test_a_rewrite_keeps_only_the_permission_bits(tmp_path: Path, mode: int) -> None:
    ws = Workspace(tmp_path)
    target = tmp_path / "tool"
    target.write_text("old")
    target.chmod(mode)
    assert stat.S_IMODE(target.stat().st_mode) == mode  # the bits really were set
    ws.write("tool", "#!/bin/sh\nid\n")
    assert target.read_text() == "#!/bin/sh\nid\n"
    assert stat.S_IMODE(target.stat().st_mode) == mode & 0o777
