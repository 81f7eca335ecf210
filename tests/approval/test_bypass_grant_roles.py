"""An "approve always" for one agent reaches other agents through roles (found by the red team; open).

A grant is ``p, <agent>, <tool>, <cond>, allow``, matched like every rule by
``p.sub == "*" || g(r.sub, p.sub)``: when the agent's name is also a role others inherit
(``g, intern, coder``: the intern gets the coder's rules), the approver's "the whole tool, for this
agent" applies to every member too, unasked. Fixing it means store grants match their agent only,
which departs from the shared casbin model (grant files for stock casbin, and the differential tests,
give grants role semantics), so it is left open here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentguard.approval import ApprovalDesk, GrantScope, Owner, SqliteApprovalStore, grant_source
from agentguard.models import ApprovalRequest, Decision, Effect, ToolCall
from agentguard.policy import PolicyEngine

RULES = """
p, *, fs.write, *, ask
g, intern, coder
"""


@pytest.mark.xfail(
    strict=True,
    reason="open: a store grant for an agent applies to agents inheriting that name as a role (g lines)",
)
def test_a_grant_for_one_agent_does_not_reach_agents_that_inherit_its_name(
    make_policy: Callable[..., Path], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    engine = PolicyEngine.load(make_policy(RULES), workspace=tmp_path, grants=grant_source(home))
    call = ToolCall(agent="coder", tool="fs.write", arguments={"content": "x"})
    request = ApprovalRequest(call=call, decision=Decision(effect=Effect.ASK, reason="ask"), timeout_s=60)
    with SqliteApprovalStore(home) as store:
        queued = store.submit(request, Owner.current())
        ApprovalDesk(store, approver="alice").approve_always(queued.id, GrantScope.TOOL)
    engine.refresh_due()
    assert engine.decide(call).effect is Effect.ALLOW  # what alice granted
    intern = call.model_copy(update={"agent": "intern"})
    assert engine.decide(intern).effect is Effect.ASK  # not granted to anyone else
