"""An approver's edit runs with the decision made on the edit (found by the red team).

The edited call was decided again, but only the sandbox profile and the resolved arguments of that
decision were kept: the addresses ``ip()`` checked (``Decision.resolved``, the only ones the tool
connects to) stayed the original call's. Edited to another host, the tool found no checked address
for it and looked the name up again, the second lookup a rebinding DNS server answers differently
from the one the rule checked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentguard import Guard, Settings
from agentguard.context import current_call
from agentguard.models import ApprovalRequest, ApprovalResult, ApprovalStatus
from agentguard.policy import PolicyEngine
from agentguard.testing import FakeResolver, MemoryAudit, ScriptedApprover

RULES = """
p, *, fetch, *, ask
p, *, fetch, ip(url, "loopback", "private"), deny
"""


def test_the_edited_call_runs_with_the_addresses_checked_for_it(
    make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    dns = FakeResolver({"a.test": ["93.184.216.34"], "b.test": ["93.184.216.35"]})

    def edit(request: ApprovalRequest) -> ApprovalResult:
        return ApprovalResult(
            status=ApprovalStatus.APPROVED,
            approver="alice",
            channel="script",
            edited_arguments={"url": "https://b.test/page"},
        )

    guard = Guard(
        PolicyEngine.load(make_policy(RULES), workspace=tmp_path, resolver=dns),
        approver=ScriptedApprover(edit),
        audit=MemoryAudit(),
        settings=Settings(home=tmp_path / "home", workspace=tmp_path),
    )
    seen: list[Any] = []

    @guard.tool(name="fetch")
    def fetch(url: str) -> str:
        ctx = current_call()
        assert ctx is not None
        seen.append((url, dict(ctx.decision.resolved)))
        return "ok"

    assert guard.call("fetch", {"url": "https://a.test/"}) == "ok"
    assert seen == [("https://b.test/page", {"b.test": ("93.184.216.35",)})]
    guard.close()
