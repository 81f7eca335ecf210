"""Review of the audit log outside the state directory: its companions are state too.

Beside the log the guard keeps ``<log>.head`` (the checkpoint: the only thing that shows records cut
off the end of the log), its temp files, ``<log>.torn-*`` (a torn tail set aside, records included)
and, with a database, ``audit-db.witness``. With ``[audit] file`` inside the workspace only the log
itself was ``{state}``: the agent read the checkpoint without asking and the default policy only asked
before rewriting it (cut records, rewrite the checkpoint to match: ``verify`` says ok).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard import Settings
from agentguard.models import Effect, ToolCall
from agentguard.policy import PolicyEngine

from .conftest import PERMISSIONS


@pytest.fixture
def engine(workspace: Path, tmp_path: Path) -> PolicyEngine:
    audit = workspace / "logs" / "audit.jsonl"
    settings = Settings(
        home=tmp_path / "home", workspace=workspace, policy_dir=PERMISSIONS, audit={"file": str(audit)}
    )
    return PolicyEngine.from_settings(settings)


def _effect(engine: PolicyEngine, tool: str, path: str) -> Effect:
    return engine.decide(ToolCall(agent="coder", tool=tool, arguments={"path": path, "content": "{}"})).effect


COMPANIONS = ["audit.jsonl.head", "audit.jsonl.head.tmp-123", "audit.jsonl.torn-20260101", "audit-db.witness"]


@pytest.mark.parametrize("name", COMPANIONS)
@pytest.mark.parametrize("tool", ["fs.read", "fs.write"])
def test_the_files_beside_the_audit_log_are_state(engine: PolicyEngine, tool: str, name: str) -> None:
    assert _effect(engine, tool, f"logs/{name}") is Effect.DENY


def test_their_neighbours_are_not(engine: PolicyEngine) -> None:
    assert _effect(engine, "fs.read", "logs/app.log") is Effect.ALLOW
    assert _effect(engine, "fs.read", "logs/audit.jsonl.md") is Effect.DENY  # wider: any audit.jsonl.*
    assert _effect(engine, "fs.read", "logs/audit.json") is Effect.ALLOW


def test_a_rw_sandbox_keeps_the_checkpoint_read_only(workspace: Path, tmp_path: Path) -> None:
    """The rw sandbox mounts ``guard_paths()`` read-only: the log was among them, its checkpoint not."""
    from agentguard.audit import checkpoint_path

    audit = workspace / "logs" / "audit.jsonl"
    settings = Settings(home=tmp_path / "home", workspace=workspace, audit={"file": str(audit)})
    assert checkpoint_path(audit) in settings.guard_paths()


def test_a_log_handed_to_the_guard_is_state_too(workspace: Path, tmp_path: Path) -> None:
    """``Guard(audit=path)`` writes its records there, while the policy from settings protected the
    settings' log (in the home) only: the agent read the log of its own calls in the workspace."""
    from agentguard import Guard, PolicyDenied
    from agentguard.testing import ScriptedApprover

    settings = Settings(home=tmp_path / "home", workspace=workspace, policy_dir=PERMISSIONS)
    guard = Guard(settings=settings, audit=workspace / "logs" / "audit.jsonl", approver=ScriptedApprover())
    try:
        guard.register_builtins()
        guard.call("fs.list", {"path": "."})
        assert (workspace / "logs" / "audit.jsonl").exists()
        for path in ("logs/audit.jsonl", "logs/audit.jsonl.head"):
            with pytest.raises(PolicyDenied):
                guard.call("fs.read", {"path": path})
    finally:
        guard.close()


def test_a_log_handed_to_the_guard_is_kept_from_a_rw_sandbox(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agentguard.tools
    from agentguard import Guard
    from agentguard.testing import FakeSandbox, ScriptedApprover

    seen: list[Settings] = []
    real = agentguard.tools.builtin_tools

    def spy(settings: Settings, **kwargs: object) -> object:
        seen.append(settings)
        return real(settings, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(agentguard.tools, "builtin_tools", spy)
    log = workspace / "logs" / "audit.jsonl"
    settings = Settings(home=tmp_path / "home", workspace=workspace, policy_dir=PERMISSIONS)
    guard = Guard(settings=settings, audit=log, approver=ScriptedApprover())
    try:
        guard.register_builtins(sandbox=FakeSandbox())
        assert log in seen[0].guard_paths()
    finally:
        guard.close()
