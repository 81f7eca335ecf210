"""The database roles a deployment uses (``agentguard db roles``): an agent host can submit and time
out its requests but cannot answer one or write a grant; an approver can. Real PostgreSQL roles."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from agentguard.approval import (
    ApprovalDesk,
    GrantScope,
    Owner,
    PostgresApprovalStore,
    QueueApprover,
    RequestState,
)
from agentguard.errors import ApprovalError
from agentguard.models import ApprovalStatus

from .conftest import db_roles_cli, make_request

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def roles(pg_url: str) -> Iterator[tuple[str, str]]:
    """``(agent URL, approver URL)``: the same database through the two roles ``db roles`` sets up."""
    agent, approver = f"aga_{uuid.uuid4().hex[:10]}", f"agp_{uuid.uuid4().hex[:10]}"
    done = db_roles_cli("--agent", agent, "--approver", approver)
    assert done.returncode == 0, done.stderr
    printed = done.stdout
    with psycopg.connect(pg_url, autocommit=True) as owner:
        owner.execute(f"CREATE ROLE {agent} LOGIN")
        owner.execute(f"CREATE ROLE {approver} LOGIN")
        owner.execute(printed)
    try:
        yield (
            pg_url.replace("://postgres@", f"://{agent}@"),
            pg_url.replace("://postgres@", f"://{approver}@"),
        )
    finally:
        with psycopg.connect(pg_url, autocommit=True) as owner:
            for name in (agent, approver):
                owner.execute(f"DROP OWNED BY {name}")
                owner.execute(f"DROP ROLE {name}")


def test_an_agent_cannot_answer_its_own_request_or_write_a_grant(roles: tuple[str, str]) -> None:
    agent_url, approver_url = roles
    with PostgresApprovalStore(agent_url) as agent:
        queued = agent.submit(make_request(), Owner.current())
        # an answer writes columns the agent role may not update at all (column privileges) ...
        with pytest.raises(ApprovalError, match="permission denied"):
            ApprovalDesk(agent, approver="mallory").approve(queued.id)
        with pytest.raises(ApprovalError, match="permission denied"):
            ApprovalDesk(agent, approver="mallory").approve_always(queued.id, GrantScope.TOOL)
        # ... and with only the columns it may update, row-level security refuses an approval
        with (
            psycopg.connect(agent_url, autocommit=True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"),
        ):
            conn.execute(
                "UPDATE ag_requests SET status = 'approved', approver = 'mallory' WHERE id = %s", (queued.id,)
            )
        assert agent.get(queued.id).state is RequestState.PENDING
        with PostgresApprovalStore(approver_url) as approver:
            done = ApprovalDesk(approver, approver="alice").approve(queued.id)
        assert done.state is RequestState.APPROVED
        # what an agent must be able to do: time its own request out
        result = QueueApprover(agent).request(make_request(timeout_s=0.2))
        assert result.status is ApprovalStatus.TIMEOUT


def test_an_approver_writes_grants_and_an_agent_cannot(roles: tuple[str, str]) -> None:
    agent_url, approver_url = roles
    with PostgresApprovalStore(agent_url) as agent, PostgresApprovalStore(approver_url) as approver:
        queued = agent.submit(make_request(), Owner.current())
        _, grant = ApprovalDesk(approver, approver="alice").approve_always(queued.id, GrantScope.TOOL)
        assert grant is not None
        assert [g.id for g in agent.grants()] == [grant.id]  # the agent reads grants
        with pytest.raises(ApprovalError, match="permission denied"):
            agent.revoke_grant(grant.id, "mallory")
        assert approver.revoke_grant(grant.id, "bob").revoked_by == "bob"
    with psycopg.connect(agent_url, autocommit=True) as conn:  # pushed policies: read, never written
        assert conn.execute("SELECT count(*) FROM ag_policy_versions").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO ag_policy_versions (pushed_by, source, digest) VALUES ('m', 'x', 'y')")
