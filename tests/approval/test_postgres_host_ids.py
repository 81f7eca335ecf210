"""A host cannot squat another host's call id: request ids are unique per host role (schema 8), and
every answer, lookup and grant names the row by id and role. Before, a host that read a call id
from the shared audit trail and inserted a request under it first made the other host's submit
fail (a targeted denial of service). Real roles; the approver's commands on colliding ids too."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest
from click.testing import CliRunner, Result

from agentguard.approval import (
    ApprovalDesk,
    GrantScope,
    PostgresApprovalStore,
    PostgresGrantSource,
    QueueApprover,
    RequestState,
)
from agentguard.cli import main
from agentguard.database import Database, migrations, upgrade
from agentguard.errors import ApprovalError
from agentguard.models import ApprovalStatus

from .conftest import make_request, wait_until
from .test_postgres_hosts import HOST_A, HOST_B, Fleet, fleet  # noqa: F401 - the fixture


def _squat(hosts: Fleet, call_id: str) -> None:
    """Host A files a request of its own under ``call_id`` (read from the audit trail) first."""
    with PostgresApprovalStore(hosts.a, sweep=False) as a:
        a.submit(make_request(tool="files.delete", arguments={"path": "/"}, call_id=call_id), HOST_A)


def test_a_host_cannot_squat_another_hosts_call_id(fleet: Fleet) -> None:  # noqa: F811
    wanted = make_request(arguments={"command": "make deploy"})
    _squat(fleet, wanted.call.id)
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        waiter = QueueApprover(b, owner=HOST_B)
        results: list[ApprovalStatus] = []
        asking = threading.Thread(target=lambda: results.append(waiter.request(wanted).status))
        asking.start()
        with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
            wait_until(lambda: len(approver.pending()) == 2, what="host B's request beside host A's")
            mine, theirs = f"{wanted.call.id}@{fleet.role_b}", f"{wanted.call.id}@{fleet.role_a}"
            assert sorted(q.ref for q in approver.pending()) == sorted([mine, theirs])
            with pytest.raises(ApprovalError, match="more than one host") as bare:
                approver.get(wanted.call.id)  # a bare id names no row when hosts share it
            assert sorted(bare.value.data["matches"]) == sorted([mine, theirs])
            desk = ApprovalDesk(approver, approver="alice")
            with pytest.raises(ApprovalError, match="more than one host"):
                desk.approve(wanted.call.id)
            answered, grant = desk.approve_always(mine, GrantScope.TOOL)
            asking.join(10)
            assert results == [ApprovalStatus.APPROVED]
            assert (answered.db_role, answered.call.tool, grant.host_role) == (
                fleet.role_b,
                "shell.run",
                fleet.role_b,
            )
            # host A's row is untouched, and still its own (its content, its role)
            left = approver.get(theirs)
            assert (left.state, left.call.tool, left.db_role) == (
                RequestState.PENDING,
                "files.delete",
                fleet.role_a,
            )
    with PostgresApprovalStore(fleet.a, sweep=False) as a:
        assert a.get(wanted.call.id).state is RequestState.PENDING  # host A sees only its own row
        with pytest.raises(ApprovalError, match="no approval request"):
            a.get(mine)
    source = PostgresGrantSource(fleet.a)
    try:
        assert "shell.run" not in source.grants_snapshot()[1]  # the grant answered B, not A
    finally:
        source.close()


def test_a_held_insert_under_another_hosts_id_does_not_block_its_submit(fleet: Fleet) -> None:  # noqa: F811
    wanted = make_request()
    with psycopg.connect(fleet.a) as held:  # host A inserts under B's id and keeps the transaction open
        held.execute(
            "INSERT INTO ag_requests (id, agent, tool, request, submitted_at, deadline, owner_pid,"
            " owner_host) VALUES (%s, 'coder', 'shell.run', %s, 0, 4e9, 1, 'host-a')",
            (wanted.call.id, wanted.model_dump_json()),
        )
        with PostgresApprovalStore(fleet.b, sweep=False, lock_wait_s=1.0) as b:
            queued = b.submit(wanted, HOST_B)
        assert (queued.id, queued.db_role) == (wanted.call.id, fleet.role_b)
        held.rollback()


def test_an_agent_store_answers_and_closes_only_its_own_row(fleet: Fleet) -> None:  # noqa: F811
    wanted = make_request()
    _squat(fleet, wanted.call.id)
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        queued = b.submit(wanted, HOST_B)
        closed = b.close_unanswered(queued.ref, RequestState.ABANDONED, "interrupted")
        assert closed.state is RequestState.ABANDONED
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
        assert approver.get(f"{wanted.call.id}@{fleet.role_a}").pending
        # the approver's sweep keys each row by its role too: A's row long past its deadline goes
        approver.stale_after_s = -1e9
        assert approver.sweep() == [f"{wanted.call.id}@{fleet.role_a}"]
        assert approver.get(f"{wanted.call.id}@{fleet.role_a}").state is RequestState.ABANDONED
        assert approver.get(f"{wanted.call.id}@{fleet.role_b}").reason == "interrupted"


def _cli(url: str, home: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["--database-url", url, "--home", str(home), *args], catch_exceptions=False
    )


def test_the_approvals_commands_name_colliding_ids_by_host(fleet: Fleet, tmp_path: Path) -> None:  # noqa: F811
    wanted = make_request(arguments={"command": "make deploy"})
    _squat(fleet, wanted.call.id)
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        b.submit(wanted, HOST_B)
    short = wanted.call.id[:8]
    listed = _cli(fleet.approver, tmp_path, "approvals", "list")
    assert listed.exit_code == 0, listed.output
    assert f"{short}@{fleet.role_a}" in listed.output
    assert f"{short}@{fleet.role_b}" in listed.output
    as_json = orjson.loads(_cli(fleet.approver, tmp_path, "approvals", "list", "--json").output)
    assert sorted(q["ref"] for q in as_json["requests"]) == sorted(
        f"{wanted.call.id}@{role}" for role in (fleet.role_a, fleet.role_b)
    )
    ambiguous = _cli(fleet.approver, tmp_path, "approvals", "approve", short, "--as", "alice")
    assert ambiguous.exit_code != 0
    assert f"@{fleet.role_b}" in ambiguous.output
    assert "more than one host" in ambiguous.output
    shown = _cli(fleet.approver, tmp_path, "approvals", "show", f"{short}@{fleet.role_b}", "--json")
    assert orjson.loads(shown.output)["arguments"] == {"command": "make deploy"}
    done = _cli(fleet.approver, tmp_path, "approvals", "approve", f"{short}@{fleet.role_b}", "--as", "alice")
    assert done.exit_code == 0, done.output
    denied = _cli(
        fleet.approver,
        tmp_path,
        "approvals",
        "deny",
        f"{short}@{fleet.role_a}",
        "--reason",
        "no",
        "--as",
        "bob",
    )
    assert denied.exit_code == 0, denied.output
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
        b_row = approver.get(f"{wanted.call.id}@{fleet.role_b}")
        a_row = approver.get(f"{wanted.call.id}@{fleet.role_a}")
    assert (b_row.state, b_row.approver) == (RequestState.APPROVED, "alice")
    assert (a_row.state, a_row.approver) == (RequestState.DENIED, "bob")


def test_an_unqualified_or_bad_reference_is_refused_clearly(fleet: Fleet) -> None:  # noqa: F811
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        queued = b.submit(make_request(), HOST_B)
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
        assert approver.get(queued.id).ref == queued.ref  # no collision: the bare id still names it
        assert approver.lookup(queued.id[:6]).ref == queued.ref
        with pytest.raises(ApprovalError, match="no approval request"):
            approver.get(f"{queued.id}@{fleet.role_a}")
        with pytest.raises(ApprovalError, match="not a request id"):
            approver.lookup(f"{queued.id[:6]}x@{fleet.role_b}")


@pytest.fixture
def at_version_7(pg_server: str) -> Iterator[tuple[str, str]]:
    """``(URL, call id)``: a database at schema 7 holding, under one call id, a request from before
    host identities (no role) and none other; and a request of the owner's under another id."""
    name = f"agentguard_v7_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = pg_server.rsplit("/", 1)[0] + "/" + name
    old = make_request()
    row = (
        "INSERT INTO ag_requests (id, agent, tool, request, submitted_at, deadline, owner_pid, owner_host)"
        " VALUES (%s, 'coder', 'shell.run', %s, 0, 4e9, 7, 'old-host')"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE agentguard_schema (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for step in migrations()[:7]:
            conn.execute(step.sql)
            conn.execute(
                "INSERT INTO agentguard_schema (version, name) VALUES (%s, %s)", (step.version, step.name)
            )
            if step.version == 3:  # before host identities: the row holds no role
                conn.execute(row, (old.call.id, old.model_dump_json()))
        newer = make_request()
        conn.execute(row, (newer.call.id, newer.model_dump_json()))  # the owner's, at schema 7
    try:
        yield url, old.call.id
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_the_upgrade_keeps_existing_rows_and_makes_ids_unique_per_role(at_version_7: tuple[str, str]) -> None:
    url, old_id = at_version_7
    db = Database(url, max_size=1)
    try:
        assert [m.name for m in upgrade(db)] == ["request_ids_per_host"]
        assert upgrade(db) == []
    finally:
        db.close()
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM ag_requests").fetchone() == (2,)
        uniques = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'ag_requests'::regclass AND contype = 'u'"
        ).fetchone()
        assert uniques == (0,)  # the table-wide UNIQUE (id) is gone
        # no row without a role can be written now (the db_role trigger), and even one past it (the
        # trigger off, as the owner can) cannot double one: rows without a role are one role here
        conn.execute("ALTER TABLE ag_requests DISABLE TRIGGER ag_requests_db_role")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO ag_requests (id, agent, tool, request, submitted_at, deadline, owner_pid,"
                " owner_host, db_role) SELECT id, agent, tool, request, 0, 1, 1, 'x', NULL FROM ag_requests"
                " WHERE db_role IS NULL"
            )
        conn.execute("ALTER TABLE ag_requests ENABLE TRIGGER ag_requests_db_role")
    with PostgresApprovalStore(url, sweep=False) as store:  # the owner (postgres) files the same id
        fresh = store.submit(make_request(call_id=old_id), HOST_B)
        assert fresh.ref == f"{old_id}@postgres"
        with pytest.raises(ApprovalError, match="already in the approval queue"):  # once per role
            store.submit(make_request(call_id=old_id), HOST_B)
        with pytest.raises(ApprovalError, match="more than one host"):
            store.get(old_id)
        legacy = store.get(f"{old_id}@")  # "id@": the request with no verified role
        assert (legacy.owner.host, legacy.db_role, legacy.ref) == ("old-host", None, old_id)
        assert store.lookup(f"{old_id[:8]}@postgres").ref == fresh.ref
