"""The SQLite approval queue holds every request's arguments as the agent sent them (secrets in a
header, a token in a command: the approver must see what runs). It was created with the process's
umask, 0644 under the usual 022, beside an audit log kept 0600 and redacted: any local user could
read pending and past calls' arguments from ``approvals.db`` and its ``-wal`` (red team)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentguard.approval import Owner, SqliteApprovalStore

from .conftest import make_request

SECRET = "Bearer " + "q7Zx" * 8


@pytest.fixture
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(home: Path) -> dict[str, int]:
    return {
        p.name: stat.S_IMODE(p.stat().st_mode) for p in home.iterdir() if p.name.startswith("approvals.db")
    }


@pytest.mark.usefixtures("usual_umask")
def test_a_new_queue_is_readable_by_its_owner_only(home: Path) -> None:
    store = SqliteApprovalStore(home)
    try:
        store.submit(
            make_request(arguments={"command": f"curl -H 'Authorization: {SECRET}' x"}), Owner.current()
        )
        modes = _modes(home)
        assert {"approvals.db", "approvals.db-wal"} <= set(modes)
        assert any(SECRET.encode() in (home / name).read_bytes() for name in modes)
        assert {name: mode & 0o077 for name, mode in modes.items()} == dict.fromkeys(modes, 0)
    finally:
        store.close()


@pytest.mark.usefixtures("usual_umask")
def test_an_existing_world_readable_queue_is_closed_to_others(home: Path) -> None:
    SqliteApprovalStore(home).close()
    (home / "approvals.db").chmod(0o664)
    store = SqliteApprovalStore(home)
    try:
        store.submit(make_request(), Owner.current())
        modes = _modes(home)
        assert modes["approvals.db"] == 0o660  # a group the owner shared it with keeps it
        assert all(mode & 0o007 == 0 for mode in modes.values()), modes
    finally:
        store.close()
