"""python.exec and shell.run through the whole pipeline under the shipped policy, without Docker:
the built-in tools take their sandbox backend as a parameter and ``FakeSandbox`` stands in for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentguard import ApprovalResult, ApprovalStatus, Guard, PolicyDenied, SandboxError, Settings
from agentguard.sandbox_api import EndReason, SandboxRequest, SandboxResult
from agentguard.settings import DEFAULT_POLICY_DIR
from agentguard.testing import FakeSandbox, MemoryAudit, ScriptedApprover


def make_guard(tmp_path: Path, sandbox: FakeSandbox, approver: ScriptedApprover | None = None) -> Guard:
    settings = Settings(home=tmp_path / "home", workspace=tmp_path / "ws")
    guard = Guard(
        DEFAULT_POLICY_DIR, approver=approver or ScriptedApprover(), audit=MemoryAudit(), settings=settings
    )
    guard.register_builtins(sandbox=sandbox)
    return guard


def records(guard: Guard, event: str) -> list[dict[str, object]]:
    assert isinstance(guard.audit, MemoryAudit)
    return [r for r in guard.audit.records if r["event"] == event]


def test_python_exec_runs_in_the_backend_under_the_decided_profile(tmp_path: Path) -> None:
    sandbox = FakeSandbox(lambda request: "4\n")
    guard = make_guard(tmp_path, sandbox)
    result = guard.call("python.exec", {"code": "print(2 + 2)"})
    assert isinstance(result, SandboxResult)
    assert result.stdout == "4\n"
    (request,) = sandbox.requests
    assert request.language == "python"
    assert request.code == "print(2 + 2)"
    assert request.profile == "default"
    (started,) = records(guard, "execution.started")
    assert request.call_id == started["call_id"]
    assert started["sandbox_profile"] == "default"
    assert started["loosenings"] == []


def test_shell_run_gets_the_profile_its_rule_names_and_the_loosening_is_audited(tmp_path: Path) -> None:
    sandbox = FakeSandbox()
    guard = make_guard(tmp_path, sandbox)
    guard.call("shell.run", {"command": "git status"})
    assert [(r.language, r.code, r.profile) for r in sandbox.requests] == [
        ("shell", "git status", "workspace-ro")
    ]
    (started,) = records(guard, "execution.started")
    assert started["loosenings"] == ["workspace mounted read-only at /workspace"]


def test_a_denied_command_never_reaches_the_backend(tmp_path: Path) -> None:
    sandbox = FakeSandbox()
    guard = make_guard(tmp_path, sandbox)
    with pytest.raises(PolicyDenied):
        guard.call("shell.run", {"command": "rm -rf /"})
    assert sandbox.requests == []
    assert records(guard, "execution.started") == []


def test_an_approvers_edit_runs_under_the_profile_decided_for_the_edit(tmp_path: Path) -> None:
    sandbox = FakeSandbox()
    edit = ApprovalResult(
        status=ApprovalStatus.APPROVED, approver="ops", channel="t", edited_arguments={"command": "ls"}
    )
    guard = make_guard(tmp_path, sandbox, ScriptedApprover([edit]))
    guard.call("shell.run", {"command": "make build"})  # asks, under workspace-rw
    assert [(r.code, r.profile) for r in sandbox.requests] == [("ls", "workspace-ro")]


def test_a_failed_run_is_returned_and_a_backend_error_is_audited(tmp_path: Path) -> None:
    def reply(request: SandboxRequest) -> SandboxResult:
        return SandboxResult(
            exit_code=None,
            stdout="",
            stderr="",
            duration_ms=10_000.0,
            end_reason=EndReason.TIMEOUT,
            language=request.language,
            profile=request.profile or "default",
        )

    guard = make_guard(tmp_path, FakeSandbox(reply))
    result = guard.call("python.exec", {"code": "while True: pass"})
    assert result.end_reason is EndReason.TIMEOUT
    assert not result.ok

    def unreachable(request: SandboxRequest) -> SandboxResult:
        raise SandboxError("engine unreachable")

    guard = make_guard(tmp_path / "second", FakeSandbox(unreachable))
    with pytest.raises(SandboxError, match="engine unreachable"):
        guard.call("python.exec", {"code": "1"})
    (failed,) = records(guard, "execution.failed")
    assert failed["error"]["code"] == "sandbox.error"  # type: ignore[index]
