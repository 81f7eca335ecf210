"""Setting up host identities: the schema step that adds them (existing rows keep no verified host),
and ``agentguard db roles --host`` creating a login role per agent host. Real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from agentguard.approval import ApprovalDesk, GrantScope, Owner, PostgresApprovalStore, RequestState
from agentguard.database import SCHEMA_VERSION, Database, DatabaseError, migrations, roles_sql, upgrade
from agentguard.errors import ApprovalError

from .conftest import db_roles_cli, make_request
from .test_postgres_hosts import _cli

REPO = Path(__file__).resolve().parents[2]

_V3_ROWS = [
    "INSERT INTO ag_requests (id, agent, tool, request, submitted_at, deadline, owner_pid, owner_host)"
    " VALUES (%(id)s, 'coder', 'shell.run', %(request)s, 0, 4e9, 7, 'old-host')",
    "INSERT INTO ag_owners (host, pid, start, seen_at) VALUES ('old-host', 7, '', now())",
    "INSERT INTO ag_outbox (event, fields) VALUES ('approval.abandoned', '{}')",
    "INSERT INTO ag_grants (id, agent, tool, scope, condition, created_by, created_at)"
    " VALUES ('g1', 'coder', 'shell.run', 'tool', '*', 'alice', 0)",
    "INSERT INTO ag_audit (seq, hash, line, event, host) VALUES (0, 'h0', '{}', 'x', 'old-host')",
]


@pytest.fixture
def at_version_3(pg_server: str) -> Iterator[tuple[str, str]]:
    """``(URL, request id)``: a database at schema 3 (before host identities) with a row in every
    table agents write, as an agentguard of that version left it."""
    name = f"agentguard_v3_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = pg_server.rsplit("/", 1)[0] + "/" + name
    request = make_request()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE agentguard_schema (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for step in migrations()[:3]:
            conn.execute(step.sql)
            conn.execute(
                "INSERT INTO agentguard_schema (version, name) VALUES (%s, %s)", (step.version, step.name)
            )
        for statement in _V3_ROWS:
            conn.execute(statement, {"id": request.call.id, "request": request.model_dump_json()})
    try:
        yield url, request.call.id
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_the_upgrade_adds_host_identities_once_and_old_rows_have_none(
    at_version_3: tuple[str, str], tmp_path: Path
) -> None:
    url, old_id = at_version_3
    assert SCHEMA_VERSION == 8
    db = Database(url, max_size=1)
    try:
        assert [m.name for m in upgrade(db)] == [
            "host_identity",
            "audit_links",
            "host_reads",
            "outbox_hand_over",
            "request_ids_per_host",
        ]
        assert upgrade(db) == []  # once only
    finally:
        db.close()
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("ag_requests", "ag_outbox", "ag_audit"):
            assert conn.execute(f"SELECT db_role FROM {table}").fetchall() == [(None,)], table
        assert conn.execute("SELECT host_role FROM ag_grants").fetchall() == [(None,)]
        assert conn.execute("SELECT count(*) FROM ag_owners").fetchone() == (0,)  # heartbeats start over
    with PostgresApprovalStore(url, sweep=False) as store:
        old = store.get(old_id)
        assert (old.owner.host, old.db_role) == ("old-host", None)
        fresh = store.submit(make_request(), Owner(pid=8, host="new-host", start="b:1"))
        assert fresh.db_role == "postgres"  # the database fills it in: the login role
        # "always" from a request with no verified host would grant every host: refused unless asked for
        desk = ApprovalDesk(store, approver="alice")
        for attempt in (desk.preview_grant, desk.approve_always):
            with pytest.raises(ApprovalError, match=r"no verified host.*--all-hosts") as refused:
                attempt(old_id, GrantScope.TOOL)
            assert refused.value.data["field"] == "all_hosts"
        refused_cli = _cli(url, tmp_path, "approvals", "approve", old_id[:12], "--always", "tool")
        assert refused_cli.returncode != 0
        assert "no verified host" in refused_cli.stderr
        assert "--all-hosts" in refused_cli.stderr
        assert store.get(old_id).state is RequestState.PENDING
        assert [g.id for g in store.grants()] == ["g1"]  # the old grant only
        _, grant = desk.approve_always(old_id, GrantScope.TOOL, all_hosts=True)
        assert grant.host_role is None
        _, scoped = ApprovalDesk(store, approver="alice").approve_always(fresh.id, GrantScope.TOOL)
        assert scoped.host_role == "postgres"
        assert store.get(fresh.id).state is RequestState.APPROVED


def test_db_roles_creates_a_login_role_per_host(pg_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    agent, approver, host_a, host_b = f"aga_{tag}", f"agp_{tag}", f"ha_{tag}", f"hb_{tag}"
    assert "--host" in db_roles_cli("--help").stdout
    refused = db_roles_cli("--agent", agent, "--approver", approver, "--host", agent)
    assert refused.returncode != 0
    assert "role of its own" in refused.stderr
    printed = db_roles_cli("--agent", agent, "--approver", approver, "--host", host_a, "--host", host_b)
    assert printed.returncode == 0, printed.stderr
    with psycopg.connect(pg_url, autocommit=True) as owner:
        owner.execute(f"CREATE ROLE {agent}")
        owner.execute(f"CREATE ROLE {approver} LOGIN")
        owner.execute(printed.stdout)
        owner.execute(printed.stdout)  # again, as when a host is added later: the roles are kept
    try:
        with PostgresApprovalStore(pg_url.replace("://postgres@", f"://{host_a}@"), sweep=False) as a:
            queued = a.submit(make_request(), Owner(pid=1, host="a", start="b:1"))
            assert queued.db_role == host_a
            with psycopg.connect(pg_url.replace("://postgres@", f"://{host_b}@"), autocommit=True) as b:
                closed = b.execute(
                    "UPDATE ag_requests SET status = 'timeout', approver = 'agentguard' WHERE id = %s",
                    (queued.id,),
                )
                assert closed.rowcount == 0
            assert a.get(queued.id).state is RequestState.PENDING
    finally:
        with psycopg.connect(pg_url, autocommit=True) as owner:
            for name in (host_a, host_b, agent, approver):
                owner.execute(f"DROP OWNED BY {name}")
                owner.execute(f"DROP ROLE {name}")


def test_the_roles_sql_over_an_older_setup_narrows_what_agents_may_update(pg_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    agent, approver = f"aga_{tag}", f"agp_{tag}"
    with psycopg.connect(pg_url, autocommit=True) as owner:
        owner.execute(f"CREATE ROLE {agent} LOGIN")
        owner.execute(f"CREATE ROLE {approver} LOGIN")
        owner.execute(f"GRANT INSERT, UPDATE ON ag_requests, ag_owners TO {agent}")  # as the older SQL did
        owner.execute(db_roles_cli("--agent", agent, "--approver", approver).stdout)
    try:
        with PostgresApprovalStore(pg_url.replace("://postgres@", f"://{agent}@"), sweep=False) as store:
            queued = store.submit(make_request(), Owner(pid=1, host="a", start="b:1"))
        with psycopg.connect(pg_url.replace("://postgres@", f"://{agent}@"), autocommit=True) as conn:
            for column in ("grant_id", "edited", "db_role", "agent"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                    conn.execute(f"UPDATE ag_requests SET {column} = 'x' WHERE id = %s", (queued.id,))
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                conn.execute("UPDATE ag_owners SET db_role = 'x'")
    finally:
        with psycopg.connect(pg_url, autocommit=True) as owner:
            for name in (agent, approver):
                owner.execute(f"DROP OWNED BY {name}")
                owner.execute(f"DROP ROLE {name}")


@pytest.mark.parametrize(
    ("agent", "approver", "hosts"),
    [
        ("aga", "aga\n", []),  # one role twice: the agents would get the approver's policies
        ("aga", "agp", ["agp\n"]),  # the approver made a member of the agent role
        ("aga", "agp", ["aga\n"]),
        ("public", "agp", []),  # every role of the cluster an agent
        ("current_user", "agp", []),  # the owner running the SQL
        ("aga", "session_user", []),
        ("aga", "agp", ["pg_monitor"]),  # every monitoring login an agent host
        ("aga", "agp", ["none"]),
    ],
)
def test_db_roles_takes_only_names_of_roles_of_their_own(agent: str, approver: str, hosts: list[str]) -> None:
    with pytest.raises(DatabaseError):
        roles_sql(agent=agent, approver=approver, hosts=hosts)


def test_a_newline_after_a_role_name_does_not_make_agents_approvers(pg_url: str) -> None:
    role = f"agx_{uuid.uuid4().hex[:8]}"
    try:
        printed = roles_sql(agent=role, approver=role + "\n")
    except DatabaseError:
        return  # refused: nothing was printed to run
    with psycopg.connect(pg_url, autocommit=True) as owner:  # what running the printed SQL would do
        owner.execute(f"CREATE ROLE {role} LOGIN")
        owner.execute(printed)
    try:
        agent_url = pg_url.replace("://postgres@", f"://{role}@")
        with PostgresApprovalStore(agent_url, sweep=False) as agent:
            queued = agent.submit(make_request(), Owner(pid=1, host="a", start="b:1"))
            ApprovalDesk(agent, approver="agent").approve(queued.id)  # the agent answered itself
        pytest.fail("the agent role answered its own request")
    finally:
        with psycopg.connect(pg_url, autocommit=True) as owner:
            owner.execute(f"DROP OWNED BY {role}")
            owner.execute(f"DROP ROLE {role}")


@pytest.mark.parametrize("attribute", ["BYPASSRLS", "SUPERUSER", "IN ROLE {approver}"])
def test_db_roles_refuses_a_host_role_that_row_level_security_does_not_hold(
    pg_url: str, attribute: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    agent, approver, host = f"aga_{tag}", f"agp_{tag}", f"hx_{tag}"
    with psycopg.connect(pg_url, autocommit=True) as owner:
        owner.execute(f"CREATE ROLE {agent}")
        owner.execute(f"CREATE ROLE {approver} LOGIN")
        owner.execute(f"CREATE ROLE {host} LOGIN {attribute.format(approver=approver)}")  # there already
    try:
        with (
            psycopg.connect(pg_url, autocommit=True) as owner,
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="cannot be an agent role"),
        ):
            owner.execute(roles_sql(agent=agent, approver=approver, hosts=[host]))
    finally:
        with psycopg.connect(pg_url, autocommit=True) as owner:
            for name in (host, agent, approver):
                owner.execute(f"DROP OWNED BY {name}")
                owner.execute(f"DROP ROLE {name}")
