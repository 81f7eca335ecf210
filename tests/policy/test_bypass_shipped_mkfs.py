"""The shipped deny of ``mkfs*`` matched only the program ``mkfs``: in a command pattern a trailing
``*`` means "any arguments", not "any name starting with mkfs", so ``mkfs.ext4 /dev/sda1`` (how
file systems are usually made) and ``mke2fs`` were asked instead of denied."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine

from .conftest import PERMISSIONS, decide


@pytest.mark.parametrize(
    "command",
    ["mkfs /dev/sda1", "mkfs.ext4 /dev/sda1", "/sbin/mkfs.xfs -f /dev/sdb", "mke2fs -t ext4 /dev/sda1"],
)
def test_default_policy_denies_making_a_file_system(command: str, workspace: Path) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace)
    assert decide(engine, "shell.run", command=command).effect is Effect.DENY
    assert decide(engine, "shell.run", command="mkdir build").effect is Effect.ASK
