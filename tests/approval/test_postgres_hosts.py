"""Host identities the database checks: each agent host logs in as its own role (a member of the
shared agent role), and row-level security lets it write only rows naming itself and change only its
own. Real PostgreSQL roles; every attack here succeeded before host identities existed."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import psycopg
import pytest

from agentguard.approval import (
    ApprovalDesk,
    GrantScope,
    Owner,
    PostgresApprovalStore,
    PostgresGrantSource,
    QueueApprover,
    RequestState,
)
from agentguard.errors import ApprovalError
from agentguard.models import ApprovalStatus
from agentguard.testing import MemoryAudit

from .conftest import db_roles_cli, make_request

REPO = Path(__file__).resolve().parents[2]
HOST_A = Owner(pid=101, host="host-a", start="boot:1")
HOST_B = Owner(pid=202, host="host-b", start="boot:2")
# A row naming another role is refused by the db_role trigger (or, without it, row-level security).
FORGED = r"db_role is the login role|row-level security"


@dataclass(frozen=True)
class Fleet:
    owner: str  # the URL of the tables' owner
    a: str  # host A's own role
    b: str  # host B's own role
    shared: str  # the shared agent role itself, as installs before host roles log in
    approver: str
    role_a: str
    role_b: str
    agent: str


def _as(url: str, role: str) -> str:
    return url.replace("://postgres@", f"://{role}@")


@pytest.fixture
def fleet(pg_url: str) -> Iterator[Fleet]:
    """Roles from ``agentguard db roles``; the host roles made by hand as members of the agent role."""
    tag = uuid.uuid4().hex[:8]
    agent, approver, role_a, role_b = f"aga_{tag}", f"agp_{tag}", f"host_a_{tag}", f"host_b_{tag}"
    done = db_roles_cli("--agent", agent, "--approver", approver)
    assert done.returncode == 0, done.stderr
    printed = done.stdout
    with psycopg.connect(pg_url, autocommit=True) as owner:
        for role in (agent, approver, role_a, role_b):
            owner.execute(f"CREATE ROLE {role} LOGIN")
        owner.execute(printed)
        owner.execute(f"GRANT {agent} TO {role_a}, {role_b}")
    try:
        yield Fleet(
            pg_url,
            _as(pg_url, role_a),
            _as(pg_url, role_b),
            _as(pg_url, agent),
            _as(pg_url, approver),
            role_a,
            role_b,
            agent,
        )
    finally:
        with psycopg.connect(pg_url, autocommit=True) as owner:
            for name in (role_a, role_b, agent, approver):
                owner.execute(f"DROP OWNED BY {name}")
                owner.execute(f"DROP ROLE {name}")


def _submitted_by_b(fleet: Fleet) -> str:
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        return b.submit(make_request(), HOST_B).id


def _state(fleet: Fleet, request_id: str) -> str:
    with psycopg.connect(fleet.owner, autocommit=True) as conn:
        row = conn.execute("SELECT status FROM ag_requests WHERE id = %s", (request_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_a_host_cannot_close_another_hosts_request(fleet: Fleet) -> None:
    victim = _submitted_by_b(fleet)
    with PostgresApprovalStore(fleet.a, sweep=False) as a:
        for state in (RequestState.ABANDONED, RequestState.TIMEOUT):
            with pytest.raises(ApprovalError, match="no approval request"):  # nor read it
                a.close_unanswered(victim, state, "closed by host A")
            assert _state(fleet, victim) == "pending"
    with psycopg.connect(fleet.a, autocommit=True) as conn:
        done = conn.execute(
            "UPDATE ag_requests SET status = 'abandoned', approver = 'agentguard', resolved_at = 0"
            " WHERE id = %s",
            (victim,),
        )
        assert done.rowcount == 0
    # an abandoning sweep on host A (the request long past its deadline) leaves it too
    with PostgresApprovalStore(fleet.a, sweep=False, stale_after_s=-1e9) as a:
        assert a.sweep() == []
    assert _state(fleet, victim) == "pending"
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:  # the approver answers it
        assert ApprovalDesk(approver, approver="alice").deny(victim, "no").state is RequestState.DENIED


def test_a_host_cannot_submit_a_request_naming_another_host(fleet: Fleet) -> None:
    with (
        psycopg.connect(fleet.a, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match=FORGED),
    ):
        conn.execute(
            "INSERT INTO ag_requests (id, agent, tool, request, submitted_at, deadline, owner_pid,"
            " owner_host, db_role) VALUES ('ab', 'coder', 'shell.run', '{}', 0, 1, 1, 'host-b', %s)",
            (fleet.role_b,),
        )
    # what it can do is claim host B's *name*; the approver sees which host really asked
    with PostgresApprovalStore(fleet.a, sweep=False) as a:
        forged = a.submit(make_request(agent="deploy-bot"), HOST_B)
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
        seen = approver.get(forged.id)
    assert (seen.owner.host, seen.db_role) == ("host-b", fleet.role_a)


def test_approve_always_on_a_request_grants_only_the_host_that_asked(fleet: Fleet) -> None:
    with PostgresApprovalStore(fleet.a, sweep=False) as a:
        asked = a.submit(make_request(agent="deploy-bot"), HOST_B)  # host A posing as B's agent
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
        _, grant = ApprovalDesk(approver, approver="alice").approve_always(asked.id, GrantScope.TOOL)
        assert grant.host_role == fleet.role_a
        _, wide = ApprovalDesk(approver, approver="alice").approve_always(
            _other(fleet), GrantScope.TOOL, all_hosts=True
        )
        assert wide.host_role is None
    rules = {}
    for name, url in (("a", fleet.a), ("b", fleet.b)):
        source = PostgresGrantSource(url)
        try:
            rules[name] = source.grants_snapshot()[1]
        finally:
            source.close()
    assert grant.id in rules["a"]
    assert grant.id not in rules["b"]  # host B's guard never applies what host A asked for
    assert wide.id in rules["a"]
    assert wide.id in rules["b"]


def _other(fleet: Fleet) -> str:
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        return b.submit(make_request(tool="files.read", arguments={"path": "/etc/hosts"}), HOST_B).id


def test_a_host_cannot_touch_another_hosts_heartbeat(fleet: Fleet) -> None:
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        b.submit(make_request(), HOST_B)  # writes host B's heartbeat
    with psycopg.connect(fleet.a, autocommit=True) as conn:
        stale = conn.execute(
            "UPDATE ag_owners SET seen_at = '2000-01-01' WHERE host = %s", (HOST_B.host,)
        ).rowcount
        assert stale == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO ag_owners (host, pid, start, seen_at, db_role)"
                " VALUES ('host-b', 9, '', now(), %s)",
                (fleet.role_b,),
            )
    with psycopg.connect(fleet.owner, autocommit=True) as conn:
        row = conn.execute("SELECT seen_at > '2001-01-01' FROM ag_owners WHERE host = 'host-b'").fetchone()
    assert row == (True,)


def test_a_host_cannot_take_another_hosts_owed_audit_records(fleet: Fleet) -> None:
    with PostgresApprovalStore(fleet.b, sweep=False) as b:  # no audit log: B's record stays owed
        queued = b.submit(make_request(), HOST_B)
        b.close_unanswered(queued.id, RequestState.ABANDONED, "host B gave up")
    with psycopg.connect(fleet.a, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # hand-over only by the function
            conn.execute("DELETE FROM ag_outbox")
        taken = conn.execute("SELECT ag_outbox_handed_over(array(SELECT seq FROM ag_outbox))").fetchone()
        assert taken == (0,)  # B's row is not A's to read or take
        seqs = conn.execute("SELECT ag_outbox_handed_over(array[0, 1, 2, 3]::bigint[])").fetchone()
        assert seqs == (0,)  # nor to take by guessing its seq
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO ag_outbox (event, fields, db_role) VALUES ('grant.revoked', '{}', %s)",
                (fleet.role_b,),
            )
    audit_a = MemoryAudit()
    with PostgresApprovalStore(fleet.a, sweep=False, audit=audit_a):  # opening hands over what it may
        pass
    assert audit_a.events == []
    audit_approver = MemoryAudit()  # the approver hands over every host's owed records
    with PostgresApprovalStore(fleet.approver, sweep=False, audit=audit_approver) as approver:
        assert approver.flush_audit() == 0  # done on opening
    assert audit_approver.events == ["approval.abandoned"]
    assert audit_approver.records[0]["owed_by_role"] == fleet.role_b  # who owed it, by the database


def test_a_host_cannot_append_audit_rows_as_another(fleet: Fleet) -> None:
    with (
        psycopg.connect(fleet.a, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match=FORGED),
    ):
        conn.execute(
            "INSERT INTO ag_audit (seq, hash, line, event, host, db_role)"
            " VALUES (0, 'h', '{}', 'x', 'b', %s)",
            (fleet.role_b,),
        )


def test_a_hosts_own_flows_still_work(fleet: Fleet) -> None:
    audit = MemoryAudit()
    with PostgresApprovalStore(fleet.a, audit=audit, heartbeat_s=0.1) as a:
        # times out its own request (and the call is refused)
        result = QueueApprover(a).request(make_request(timeout_s=0.2))
        assert result.status is ApprovalStatus.TIMEOUT
        # abandons its own request and hands over the record it owes
        mine = a.submit(make_request(), HOST_A)
        assert a.close_unanswered(mine.id, RequestState.ABANDONED, "gave up").state is RequestState.ABANDONED
        assert "approval.abandoned" in audit.events
        answered = a.submit(make_request(), HOST_A)
        with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
            ApprovalDesk(approver, approver="alice").approve(answered.id)
        assert a.get(answered.id).state is RequestState.APPROVED
    with psycopg.connect(fleet.owner, autocommit=True) as conn:
        roles = conn.execute("SELECT DISTINCT db_role FROM ag_requests").fetchall()
        beats = conn.execute("SELECT DISTINCT db_role FROM ag_owners").fetchall()
    assert roles == [(fleet.role_a,)]
    assert beats == [(fleet.role_a,)]


def test_the_approver_sweeps_a_silent_host_it_cannot_reach(fleet: Fleet) -> None:
    victim = _submitted_by_b(fleet)
    with psycopg.connect(fleet.owner, autocommit=True) as conn:  # host B went silent long ago
        conn.execute("UPDATE ag_owners SET seen_at = '2000-01-01'")
    with PostgresApprovalStore(fleet.a, sweep=False, owner_stale_s=1) as a:
        assert a.sweep() == []  # not host A's to judge
    with PostgresApprovalStore(fleet.approver, sweep=False, owner_stale_s=1) as approver:
        assert approver.sweep() == [f"{victim}@{fleet.role_b}"]  # the request's ref: id@role
    assert _state(fleet, victim) == "abandoned"


def test_a_host_logging_in_as_the_shared_role_still_works(fleet: Fleet) -> None:
    with PostgresApprovalStore(fleet.shared, sweep=False) as shared:
        assert QueueApprover(shared).request(make_request(timeout_s=0.2)).status is ApprovalStatus.TIMEOUT
        queued = shared.submit(make_request(), HOST_A)
        assert queued.db_role == fleet.agent  # one identity for every host logging in so


def _cli(url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentguard.cli", "--database-url", url, "--home", str(home), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_the_approver_is_shown_the_host_that_really_asked(fleet: Fleet, tmp_path: Path) -> None:
    from rich.console import Console

    from agentguard.tui._detail import render_detail
    from agentguard.web._render import detail

    with PostgresApprovalStore(fleet.a, sweep=False) as a:
        forged = a.submit(make_request(agent="deploy-bot"), HOST_B)
    expected = f'database role {fleet.role_a}, host name it gave: "host-b"'
    shown = _cli(fleet.approver, tmp_path, "approvals", "show", forged.id)
    assert expected in shown.stdout, shown.stderr
    console = Console(record=True, width=200)
    console.print(render_detail(forged, now=forged.submitted_at))
    assert expected in console.export_text()
    page = detail(
        forged, now=forged.submitted_at, workspace=None, profiles={}, default_profile="default", schema=None
    )
    assert page.host == expected
    from markupsafe import escape

    from agentguard.web._pages import _ENV, _SCOPES

    html = _ENV.get_template("detail.html").render(
        approver="alice", csrf="", path="/", view=page, q=forged, suggested=None, scopes=_SCOPES
    )
    assert f'<dd id="host">{escape(expected)}</dd>' in html
    assert f"database role <code>{fleet.role_a}</code>" in html
    approved = _cli(fleet.approver, tmp_path, "approvals", "approve", forged.id, "--always", "tool")
    assert f"(on host role {fleet.role_a} only)" in approved.stdout, approved.stderr
    listed = _cli(fleet.approver, tmp_path, "grants", "list", "--json")
    assert [g["host_role"] for g in orjson.loads(listed.stdout)["grants"]] == [fleet.role_a]
    wider = _submitted_by_b(fleet)
    assert _cli(fleet.approver, tmp_path, "approvals", "approve", wider, "--all-hosts").returncode == 2
    widened = _cli(fleet.approver, tmp_path, "approvals", "approve", wider, "--always", "tool", "--all-hosts")
    assert widened.returncode == 0, widened.stderr
    assert "on host role" not in widened.stdout
    listed = _cli(fleet.approver, tmp_path, "grants", "list", "--json")
    assert [g["host_role"] for g in orjson.loads(listed.stdout)["grants"]] == [fleet.role_a, None]


def test_a_host_name_that_reads_like_a_role_does_not_come_first(fleet: Fleet, tmp_path: Path) -> None:
    from agentguard.approval import host_text

    posing = Owner(pid=7, host=f"host-b (database role {fleet.role_b})", start="boot:7")
    with PostgresApprovalStore(fleet.a, sweep=False) as a:
        forged = a.submit(make_request(agent="deploy-bot"), posing)
    shown = host_text(forged)
    assert shown is not None
    # the role the database checked is the first role named; the claimed one only after it, quoted
    assert shown.index(fleet.role_a) < shown.index(fleet.role_b)
    assert f'"host-b (database role {fleet.role_b})"' in shown
    listed = _cli(fleet.approver, tmp_path, "approvals", "show", forged.id).stdout
    assert listed.index(fleet.role_a) < listed.index(fleet.role_b)
