"""``db_role`` is the login role of the session that wrote the row, whatever the policies in force:
the database stamps it (a trigger from the schema step that adds it), so a host cannot name another
host or no host, not even between ``db upgrade`` and re-running the roles SQL, when the policies of
the older setup (which know nothing of ``db_role``) still hold. Real PostgreSQL roles."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from agentguard.approval import ApprovalDesk, GrantScope, Owner, PostgresApprovalStore, RequestState
from agentguard.database import Database, upgrade

from .conftest import make_request
from .test_postgres_host_setup import at_version_3  # noqa: F401 - the fixture
from .test_postgres_hosts import HOST_B, Fleet, fleet  # noqa: F401 - the fixture

# What ``agentguard db roles`` gave the agent role before host identities (schema 3): table-wide
# INSERT/UPDATE on requests and a submit policy with no word about db_role.
_OLD_ROLES = """
GRANT USAGE ON SCHEMA public TO {agent};
GRANT SELECT, INSERT, UPDATE ON ag_requests, ag_owners TO {agent};
GRANT SELECT, INSERT, DELETE ON ag_outbox TO {agent};
GRANT SELECT, INSERT ON ag_audit TO {agent};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {agent};
ALTER TABLE ag_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY ag_agent_read ON ag_requests FOR SELECT TO {agent} USING (true);
CREATE POLICY ag_agent_submit ON ag_requests FOR INSERT TO {agent} WITH CHECK (status = 'pending'
    AND approver IS NULL AND grant_id IS NULL AND edited IS NULL);
CREATE POLICY ag_agent_close ON ag_requests FOR UPDATE TO {agent} USING (status = 'pending')
    WITH CHECK (status IN ('timeout', 'abandoned') AND approver = 'agentguard');
"""

_FORGED = (
    "INSERT INTO ag_requests (id, agent, tool, request, submitted_at, deadline, owner_pid, owner_host,"
    " db_role) VALUES (%s, 'coder', 'shell.run', %s, 0, 4e9, 7, 'host-b', %s)"
)


@pytest.fixture
def upgraded_under_old_roles(at_version_3: tuple[str, str]) -> Iterator[tuple[str, str]]:  # noqa: F811
    """``(owner URL, agent URL)``: schema 3 with the older roles SQL, then ``db upgrade`` (not yet
    the new roles SQL: the window every upgrading fleet goes through)."""
    url, _ = at_version_3
    agent = f"aga_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as owner:
        owner.execute(f"CREATE ROLE {agent} LOGIN")
        owner.execute(_OLD_ROLES.format(agent=agent))
    db = Database(url, max_size=1)
    try:
        upgrade(db)
    finally:
        db.close()
    try:
        yield url, url.replace("://postgres@", f"://{agent}@")
    finally:
        with psycopg.connect(url, autocommit=True) as owner:
            owner.execute(f"DROP OWNED BY {agent}")
            owner.execute(f"DROP ROLE {agent}")


@pytest.mark.parametrize("claimed", [None, "host_b_role"], ids=["no-host", "another-host"])
def test_a_host_cannot_forge_db_role_before_the_roles_sql_is_rerun(
    upgraded_under_old_roles: tuple[str, str], claimed: str | None
) -> None:
    owner_url, agent_url = upgraded_under_old_roles
    request = make_request(agent="deploy-bot")
    with psycopg.connect(agent_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="db_role"):
            conn.execute(_FORGED, (request.call.id, request.model_dump_json(), claimed))
        mine = make_request()
        conn.execute(_FORGED, (mine.call.id, mine.model_dump_json(), conn.info.user))  # its own: fine
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="db_role"):
            conn.execute("UPDATE ag_requests SET db_role = %s WHERE id = %s", (claimed, mine.call.id))
        for table, columns, values in (
            ("ag_owners", "host, pid, start, seen_at, db_role", "'host-b', 1, '', now(), %s"),
            ("ag_outbox", "event, fields, db_role", "'approval.abandoned', '{}', %s"),
            ("ag_audit", "seq, hash, line, event, host, db_role", "77, 'h77', '{}', 'x', 'host-b', %s"),
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="db_role"):
                conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({values})", (claimed,))
    # so an approve-always can only scope the grant to the role that really asked
    with PostgresApprovalStore(owner_url, sweep=False) as approver:
        _, grant = ApprovalDesk(approver, approver="alice").approve_always(mine.call.id, GrantScope.TOOL)
    assert grant.host_role == agent_url.split("://", 1)[1].split("@", 1)[0]


def test_not_even_the_approver_or_the_owner_rewrites_db_role(
    upgraded_under_old_roles: tuple[str, str],
) -> None:
    owner_url, _ = upgraded_under_old_roles
    with PostgresApprovalStore(owner_url, sweep=False) as store:
        queued = store.submit(make_request(), Owner(pid=9, host="h", start="b:9"))
    with (
        psycopg.connect(owner_url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="db_role"),
    ):
        conn.execute("UPDATE ag_requests SET db_role = NULL WHERE id = %s", (queued.id,))


def test_other_ways_of_writing_as_another_host_are_refused(fleet: Fleet) -> None:  # noqa: F811
    """Regression guard for the ways around a plain INSERT (each refused on the code as it is)."""
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        victim = b.submit(make_request(), HOST_B)
    text = victim.request.model_dump_json()
    upsert = (  # upsert onto B's row
        "INSERT INTO ag_requests (id, agent, tool, request, submitted_at, deadline, owner_pid,"
        " owner_host) VALUES (%s, 'coder', 'shell.run', %s, 0, 1, 1, 'a') ON CONFLICT {} DO UPDATE"
        " SET status = 'timeout', approver = 'agentguard'"
    )
    with psycopg.connect(fleet.a, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InvalidColumnReference):  # ids are unique per role (schema 8)
            conn.execute(upsert.format("(id)"), (victim.id, text))
        # on (id, role) the conflict is looked for among host A's own rows: this inserts a row of A's
        conn.execute(upsert.format("(id, coalesce(db_role, ''))"), (victim.id, text))
    attempts = [
        (f"SET ROLE {fleet.agent}", None),  # then act as the shared role: session_user stays host A
        (
            "INSERT INTO ag_requests (id, agent, tool, request, submitted_at, deadline, owner_pid,"
            " owner_host, db_role) VALUES ('x1', 'coder', 'shell.run', %s, 0, 1, 1, 'a', %s)",
            (text, fleet.agent),
        ),
        ("RESET ROLE", None),
        (f"SET SESSION AUTHORIZATION {fleet.role_b}", None),
    ]
    with psycopg.connect(fleet.a, autocommit=True) as conn:
        for statement, params in attempts:
            if params is None and statement.startswith(("SET ROLE", "RESET")):
                conn.execute(statement)
                continue
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement, params)
        with (
            pytest.raises(psycopg.Error),
            conn.cursor().copy(
                "COPY ag_requests (id, agent, tool, request, submitted_at, deadline, owner_pid, owner_host,"
                " db_role) FROM STDIN"
            ) as copy,
        ):
            copy.write_row(("x2", "coder", "shell.run", text, 0, 1, 1, "a", fleet.role_b))
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
        assert approver.get(victim.ref).state is RequestState.PENDING
        assert approver.get(f"{victim.id}@{fleet.role_a}").state is RequestState.PENDING  # A's own row
        assert {q.db_role for q in approver.recent()} == {fleet.role_a, fleet.role_b}
