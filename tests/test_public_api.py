"""The public surface is small and deliberate: adding or removing a name must be a conscious change."""

import agentguard
import agentguard.testing

EXPECTED = {
    "AgentGuardError",
    "ApprovalDenied",
    "ApprovalError",
    "ApprovalRequest",
    "ApprovalResult",
    "ApprovalStatus",
    "ApprovalTimeout",
    "Approver",
    "AsyncApprover",
    "AuditError",
    "AuditIntegrityError",
    "AuditSink",
    "CallRejected",
    "Closeable",
    "ConfigError",
    "Decision",
    "Effect",
    "Guard",
    "InvalidArguments",
    "PolicyDecider",
    "PolicyDenied",
    "PolicyError",
    "RefreshablePolicy",
    "RuleRef",
    "SandboxError",
    "Settings",
    "ToolCall",
    "ToolFailed",
    "UnknownTool",
    "VerdictChanged",
    "__version__",
    "current_call",
    "load_settings",
}


def test_all_is_pinned() -> None:
    assert set(agentguard.__all__) == EXPECTED
    for name in agentguard.__all__:
        assert hasattr(agentguard, name), name


def test_errors_carry_code_and_data() -> None:
    err = agentguard.PolicyDenied("fs.read denied", rule="policy.csv:3", reason="no")
    assert err.code == "policy.denied"
    assert err.to_dict() == {
        "code": "policy.denied",
        "message": "fs.read denied",
        "data": {"rule": "policy.csv:3", "reason": "no"},
    }
    assert isinstance(err, agentguard.CallRejected)
    pe = agentguard.PolicyError("unknown function foo", file="policy.csv", line=7)
    assert str(pe) == "policy.csv:7: unknown function foo"
    assert pe.data["line"] == 7


def test_testing_module_exports() -> None:
    assert {"ScriptedApprover", "MemoryAudit", "DenyApprover", "FakeSandbox"} <= set(
        agentguard.testing.__all__
    )
