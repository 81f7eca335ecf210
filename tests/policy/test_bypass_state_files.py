"""Red team: the audit log set elsewhere by settings was no longer ``{state}``.

The default policy promises agentguard's own state (audit log, approval queue, grants) is never
touched by a file tool "wherever settings put it": ``{state}`` is the settings ``home``. But
``[audit] file`` may be an absolute path, and one inside the workspace (``logs/audit.jsonl``) was read
without asking and rewritten after an approval, although the rw sandbox keeps it read-only. The
audit file's real path now counts as ``{state}`` too (only when it lies outside the state directory,
so the usual setup matches one pattern, as before).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard import Guard, PolicyDenied, Settings
from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine
from agentguard.policy._loader import compile_env
from agentguard.testing import ScriptedApprover

from .conftest import PERMISSIONS


@pytest.fixture
def settings(workspace: Path, tmp_path: Path) -> Settings:
    audit = workspace / "logs" / "audit.jsonl"
    return Settings(
        home=tmp_path / "home", workspace=workspace, policy_dir=PERMISSIONS, audit={"file": str(audit)}
    )


def _effect(engine: PolicyEngine, tool: str, path: str) -> Effect:
    return engine.decide(ToolCall(agent="coder", tool=tool, arguments={"path": path, "content": "{}"})).effect


@pytest.mark.parametrize("tool", ["fs.read", "fs.write", "fs.list"])
def test_an_audit_log_inside_the_workspace_is_state(settings: Settings, tool: str) -> None:
    engine = PolicyEngine.from_settings(settings)
    assert _effect(engine, tool, "logs/audit.jsonl") is Effect.DENY
    assert _effect(engine, "fs.read", "logs/app.log") is Effect.ALLOW  # its neighbours are not


def test_the_agent_cannot_read_the_log_of_its_own_calls(settings: Settings) -> None:
    guard = Guard(settings=settings, approver=ScriptedApprover())
    try:
        guard.register_builtins()
        guard.call("fs.list", {"path": "."})
        assert settings.audit_path.exists()  # the guard writes it there
        with pytest.raises(PolicyDenied):
            guard.call("fs.read", {"path": "logs/audit.jsonl"})
    finally:
        guard.close()


def test_an_audit_log_in_the_home_adds_no_pattern(workspace: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert compile_env(workspace, home, None, [home / "audit.jsonl"]).state_files == ()
    outside = compile_env(workspace, home, None, [workspace / "a.jsonl"]).state_files
    assert outside == (str((workspace / "a.jsonl").resolve()),)


def test_a_plain_load_is_unchanged(workspace: Path, tmp_path: Path) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace, state_dir=tmp_path / "home")
    assert _effect(engine, "fs.read", "logs/audit.jsonl") is Effect.ALLOW  # no settings, no audit file
    assert _effect(engine, "fs.read", str(tmp_path / "home" / "audit.jsonl")) is Effect.DENY
