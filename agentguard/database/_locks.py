"""Advisory locks every host shares, taken with a bounded wait.

Any role that can connect can take any advisory lock key and keep it as long as its transaction stays
open, so an agent host could stall every other host's audit appends (the chain lock) or the approvers'
hand-overs (the outbox lock) for ever. Each wait here is bounded (``lock_timeout``, for this
transaction only) and a wait that runs out raises :class:`LockWaitTimeout` naming the role and
process holding the key, as the database reports them, so the stall is an error that says whom to
stop rather than a hang.
"""

from __future__ import annotations

from typing import Any

from agentguard.database._connect import DatabaseError

__all__ = ["LockWaitTimeout", "bound_lock_waits", "take_advisory_lock"]

# The session holding an advisory lock on a bigint key (classid: its high 32 bits, objid: its low 32
# bits, objsubid 1). Every role sees pg_locks and the role name and pid in pg_stat_activity.
_HOLDER = (
    "SELECT a.usename, l.pid FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.classid::bigint = %s AND l.objid::bigint = %s LIMIT 1"
)


class LockWaitTimeout(DatabaseError):
    """An advisory lock stayed held by another session for longer than the wait allowed."""

    code = "database.lock_timeout"


def bound_lock_waits(conn: Any, wait_s: float) -> None:
    """Let no lock wait in ``conn``'s open transaction last longer than ``wait_s`` seconds (a row an
    agent host keeps locked, its own request say, must not hold an approver's change for ever)."""
    conn.execute(
        "SELECT pg_catalog.set_config('lock_timeout', %s, true)", (f"{max(int(wait_s * 1000), 1)}ms",)
    )


def take_advisory_lock(conn: Any, key: int, *, wait_s: float, what: str) -> None:
    """Take transaction-level advisory lock ``key`` in ``conn``'s open transaction, waiting at most
    ``wait_s`` seconds; the transaction stays usable when the wait runs out (a savepoint is undone)."""
    import psycopg

    bound_lock_waits(conn, wait_s)
    try:
        with conn.transaction():  # a savepoint: a lock wait that runs out does not end the transaction
            conn.execute("SELECT pg_catalog.pg_advisory_xact_lock(%s::bigint)", (key,))
    except psycopg.errors.LockNotAvailable:
        holder = conn.execute(_HOLDER, ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)).fetchone()
        held_by = f"database role {holder[0]} (server process {holder[1]})" if holder else "another session"
        raise LockWaitTimeout(
            f"the {what} has been held by {held_by} for more than {wait_s:g}s; that session must end its"
            " transaction (or be terminated with pg_terminate_backend) before others can go on",
            lock=what,
            held_by=holder[0] if holder else None,
            pid=holder[1] if holder else None,
            wait_s=wait_s,
        ) from None
