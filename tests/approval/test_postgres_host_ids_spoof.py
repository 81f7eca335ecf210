"""A host cannot make its request pass for another host's in the approver's lists. Two ways it could
with refs (``id@role``) alone: an id sharing another host's id's first characters (the lists show
those only, and qualified only ids equal in full), and an id holding ``@`` (its ref,
``x@hostb@hosta``, reads as host B's ``x@hostb``, and no ref can name it)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from agentguard.approval import ApprovalDesk, PostgresApprovalStore, RequestState
from agentguard.approval._store_api import AlreadyAnswered
from agentguard.cli import main
from agentguard.database import Database, upgrade
from agentguard.errors import ApprovalError

from .conftest import make_request
from .test_postgres_host_ids import at_version_7  # noqa: F401 - the fixture
from .test_postgres_hosts import HOST_A, HOST_B, Fleet, fleet  # noqa: F401 - the fixture


def _cli(url: str, home: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["--database-url", url, "--home", str(home), *args], catch_exceptions=False
    )


def test_ids_alike_in_what_the_list_shows_are_named_by_host(fleet: Fleet, tmp_path: Path) -> None:  # noqa: F811
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        wanted = b.submit(make_request(arguments={"command": "make deploy"}), HOST_B)
    lookalike = wanted.id[:8] + "0" * 24  # host A: B's first eight characters, its own tail
    assert lookalike != wanted.id
    looks_alike = wanted.id[:8].replace("1", "l").replace("0", "O") + "1" * 24  # where it has any
    with PostgresApprovalStore(fleet.a, sweep=False) as a:
        for call_id in (lookalike, looks_alike):
            a.submit(make_request(arguments={"command": "make deploy"}, call_id=call_id), HOST_A)
        for hidden in ("\u200b" + wanted.id, "\u0441" + wanted.id[1:], wanted.id[:7] + " "):
            with pytest.raises(ApprovalError, match="visible ASCII"):  # invisible, Cyrillic, a space
                a.submit(make_request(call_id=hidden), HOST_A)
    listed = _cli(fleet.approver, tmp_path, "approvals", "list")
    assert listed.exit_code == 0, listed.output
    short = wanted.id[:8]
    assert f"{short}@{fleet.role_a}" in listed.output  # which host's is which, as the list shows them
    assert f"{short}@{fleet.role_b}" in listed.output
    assert f"{looks_alike[:8]}@{fleet.role_a}" in listed.output
    # what the list shows is what the approver types: it names host B's request, not host A's
    done = _cli(fleet.approver, tmp_path, "approvals", "approve", f"{short}@{fleet.role_b}", "--as", "alice")
    assert done.exit_code == 0, done.output
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
        assert approver.get(wanted.ref).state is RequestState.APPROVED
        assert approver.get(f"{lookalike}@{fleet.role_a}").pending


def test_an_id_holding_an_at_sign_is_refused(fleet: Fleet) -> None:  # noqa: F811
    with PostgresApprovalStore(fleet.b, sweep=False) as b:
        wanted = b.submit(make_request(), HOST_B)
    spoof = f"{wanted.id}@{fleet.role_b}"  # its ref would be "<B's ref>@host_a"
    with PostgresApprovalStore(fleet.a, sweep=False) as a:
        with pytest.raises(ApprovalError, match="other than '@'") as refused:
            a.submit(make_request(call_id=spoof), HOST_A)
        assert refused.value.data.get("field") == "id"
    forged = make_request(call_id=spoof)
    with psycopg.connect(fleet.a, autocommit=True) as conn:  # past the store: the row goes in
        conn.execute(
            "INSERT INTO ag_requests (id, agent, tool, request, submitted_at, deadline, owner_pid,"
            " owner_host) VALUES (%s, 'coder', 'shell.run', %s, 0, 4e9, 1, 'host-a')",
            (spoof, forged.model_dump_json()),
        )
    with PostgresApprovalStore(fleet.approver, sweep=False) as approver:
        # out of every list, as any row no ref can name: never shown as host B's
        assert [q.ref for q in approver.pending()] == [wanted.ref]
        assert [q.ref for q in approver.recent()] == [wanted.ref]
        # host B's request is still named by its ref, and by its id (the spoof is no id of a request)
        assert approver.get(wanted.ref).pending
        assert approver.lookup(wanted.id).ref == wanted.ref


def test_a_request_from_before_host_identities_is_answered_by_its_exact_name(
    at_version_7: tuple[str, str],  # noqa: F811
) -> None:
    """``id@`` names the request with no role; a host's request under the same id must not turn its
    answer (applied) into an error, nor its "already answered" into "more than one host"."""
    url, old_id = at_version_7
    db = Database(url, max_size=1)
    try:
        upgrade(db)
    finally:
        db.close()
    with PostgresApprovalStore(url, sweep=False) as store:
        store.submit(make_request(call_id=old_id), HOST_B)  # the owner's role, the same id
        denied = ApprovalDesk(store, approver="alice").deny(f"{old_id}@", "no")
        assert (denied.state, denied.db_role, denied.owner.host) == (RequestState.DENIED, None, "old-host")
        with pytest.raises(AlreadyAnswered, match="already denied by alice"):
            ApprovalDesk(store, approver="bob").approve(f"{old_id}@")
        closed = store.close_unanswered(f"{old_id}@", RequestState.ABANDONED, "gone")
        assert (closed.state, closed.db_role) == (RequestState.DENIED, None)
        assert store.get(f"{old_id}@postgres").pending
