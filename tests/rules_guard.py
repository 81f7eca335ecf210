"""A guard on a few policy lines and plain tools, for tests of what a rule lets through."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentguard import Guard, Settings
from agentguard.testing import MemoryAudit, ScriptedApprover

PERMISSIONS = Path(__file__).resolve().parent.parent / "permissions"


def guard_on_rules(tmp_path: Path, rules: str, tools: tuple[Callable[..., Any], ...]) -> Guard:
    """A guard whose policy is the shipped model with ``rules``, each of ``tools`` registered by its
    function name (an in-memory audit, a scripted approver that refuses any ask)."""
    policy = tmp_path / "policy"
    policy.mkdir()
    shutil.copyfile(PERMISSIONS / "model.conf", policy / "model.conf")
    (policy / "policy.csv").write_text(rules.strip() + "\n")
    (tmp_path / "ws").mkdir()
    settings = Settings(home=tmp_path / "home", workspace=tmp_path / "ws")
    guard = Guard(policy, approver=ScriptedApprover(), audit=MemoryAudit(), settings=settings)
    for tool in tools:
        guard.register(tool.__name__, tool)
    return guard
