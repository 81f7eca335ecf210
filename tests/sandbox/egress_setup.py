"""A guard whose python.exec runs in a real ``network = "policy"`` sandbox, against the test internet."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentguard import Guard, Settings
from agentguard.policy import PolicyEngine
from agentguard.sandbox import Sandbox, SandboxProfile, SandboxResult, SandboxSettings
from agentguard.settings import DEFAULT_POLICY_DIR
from agentguard.testing import FakeResolver, MemoryAudit, ScriptedApprover
from agentguard.tools.egress import EgressProxy
from tests.sandbox.internet import Internet


@dataclass
class Egress:
    guard: Guard
    audit: MemoryAudit
    approver: ScriptedApprover
    internet: Internet
    sandbox: Sandbox

    def run(self, code: str) -> SandboxResult:
        result = self.guard.call("python.exec", {"code": code})
        assert isinstance(result, SandboxResult)
        return result

    def connects(self) -> list[dict[str, Any]]:
        """One entry per net.connect call: its arguments and the events that followed."""
        calls: dict[str, dict[str, Any]] = {}
        for rec in self.audit.records:
            if rec.get("tool") != "net.connect":
                continue
            entry = calls.setdefault(str(rec["call_id"]), {"events": []})
            entry["events"].append(rec["event"])
            for key in ("arguments", "result", "error", "effect", "rule"):
                if key in rec:
                    entry[key] = rec[key]
        return list(calls.values())


def make_egress(
    tmp: Path,
    internet: Internet,
    client: Any,
    rules: str,
    approver: ScriptedApprover | None = None,
    timeout_s: float = 30.0,
    pool_size: int = 0,
) -> Iterator[Egress]:
    policy = tmp / "policy"
    policy.mkdir()
    (policy / "model.conf").write_text((DEFAULT_POLICY_DIR / "model.conf").read_text())
    (policy / "policy.csv").write_text('p, *, python.exec, sandbox("net"), allow\n' + rules)
    resolver = FakeResolver(
        {
            "web.test": [internet.address],
            "other.test": [internet.address],
            "meta.test": ["169.254.169.254"],  # never dialled: the tests check it is refused first
            "loop.test": ["127.0.0.1"],
        }
    )
    profiles = {"net": SandboxProfile(network="policy", timeout_s=timeout_s, memory_mb=256)}
    sandbox_settings = SandboxSettings(
        pool_size=pool_size, profiles=profiles, default_profile="net", pool_languages=("python",)
    )
    (tmp / "ws").mkdir()
    settings = Settings(home=tmp / "home", workspace=tmp / "ws", sandbox=sandbox_settings)
    engine = PolicyEngine.load(policy, workspace=tmp / "ws", resolver=resolver)
    audit = MemoryAudit()
    approver = approver or ScriptedApprover()
    guard = Guard(engine, approver=approver, audit=audit, settings=settings)
    proxy = EgressProxy(resolver=resolver)
    sandbox = Sandbox(sandbox_settings, client=client, egress=proxy, reap_orphans=False)
    guard.register_builtins(sandbox=sandbox)
    try:
        yield Egress(guard=guard, audit=audit, approver=approver, internet=internet, sandbox=sandbox)
    finally:
        sandbox.close()
        proxy.close()
        guard.close()
