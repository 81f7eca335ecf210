"""``agentguard approvals`` / ``grants`` with ``--database-url``: the same commands on the shared queue,
their audit records in the database's chain (and the host's copy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agentguard.approval import Owner, PostgresApprovalStore, RequestState
from agentguard.audit import read_database, verify_database
from agentguard.database import Database

from .conftest import make_request

REPO = Path(__file__).resolve().parents[2]


def test_approve_always_list_and_revoke_from_the_cli(pg_url: str, tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "agentguard.cli",
                "--database-url",
                pg_url,
                "--home",
                str(tmp_path),
                *args,
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        )

    with PostgresApprovalStore(pg_url) as store:
        queued = store.submit(make_request(), Owner.current())
        listed = cli("approvals", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [q["id"] for q in json.loads(listed.stdout)["requests"]] == [queued.id]
        done = cli("approvals", "approve", queued.id[:10], "--always", "tool", "--as", "alice", "--json")
        assert done.returncode == 0, done.stderr
        assert store.get(queued.id).state is RequestState.APPROVED
        (grant,) = store.grants()
        assert grant.created_by == "alice"
        revoked = cli("grants", "revoke", grant.id[:10], "--as", "bob")
        assert revoked.returncode == 0, revoked.stderr
        assert store.grants() == []
    db = Database(pg_url, max_size=1)
    try:
        events = [r["event"] for r in read_database(db)]
        assert verify_database(db).ok
    finally:
        db.close()
    assert events == ["grant.created", "grant.revoked"]  # owed in the change's transaction, handed over
    local = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["event"] for line in local] == ["grant.created", "grant.revoked"]
