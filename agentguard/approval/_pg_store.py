"""The approval store on PostgreSQL: one queue and one set of grants for every host.

The same contract as :class:`SqliteApprovalStore`, with what a shared server changes:

- every answer is one ``UPDATE ... WHERE status = 'pending'``; under READ COMMITTED a racing second
  update waits for the first, re-reads the row and finds it no longer pending: applied exactly once;
- waiters are woken by ``LISTEN``/``NOTIFY`` (``_pg_database``), not by polling;
- an owner on another host cannot be looked up in ``/proc``: agent processes with requests pending
  write a heartbeat (``ag_owners``, database clock); a heartbeat older than ``owner_stale_s`` means
  the owner died or lost the database, and its requests are abandoned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import time
from collections.abc import Callable
from typing import Any

from agentguard.approval._pg_database import CHANNEL, HEARTBEAT
from agentguard.approval._pg_grants import PostgresGrants
from agentguard.approval._records import Answer, Grant, QueuedRequest, RequestState, request_ref, split_ref
from agentguard.approval._rows import dumps, row_to_request
from agentguard.approval._store_api import AlreadyAnswered, validate_grant
from agentguard.database import Database
from agentguard.errors import AgentGuardError, ApprovalError
from agentguard.models import ApprovalRequest, ApprovalStatus
from agentguard.owner import Owner, is_alive
from agentguard.pipeline import AuditSink

__all__ = ["CHANNEL", "PostgresApprovalStore"]

_log = logging.getLogger("agentguard.approval")
# What a row an agent host shaped can raise when read (pydantic's and orjson's errors are ValueErrors;
# a deadline of Infinity or 1e300 is no datetime).
_UNREADABLE = (ValueError, OverflowError, TypeError)
# What a request id on a shared queue may hold (agentguard's own are hex): visible ASCII without "@",
# which starts the role in a ref ("x@host_b" filed by host A has the ref "x@host_b@host_a", read as
# host B's, and no ref names it); no invisible, control or look-alike characters in an approver's list.
_ID = re.compile(r"[!-?A-~]+")
_ID_RULE = "a request id is visible ASCII characters other than '@' (which names a host role in a ref)"


def _request(row: Any) -> QueuedRequest:
    """A request from its row, or an ``ApprovalError`` naming the row and the role that wrote it."""
    try:
        if not _ID.fullmatch(row["id"]):
            raise ValueError(_ID_RULE)
        queued = row_to_request(row)
        if queued.call.id != queued.id:  # an honest host files a call under its own id
            raise ValueError(f"it holds call {queued.call.id!r}")
        return queued
    except _UNREADABLE as exc:
        raise ApprovalError(
            f"approval request {_ref(row)!r} (written by database role {row['db_role']}) cannot be read:"
            f" {str(exc)[:200]}",
            request_id=_ref(row),
        ) from None


def _readable(rows: list[Any]) -> list[QueuedRequest]:
    """The requests that can be read: one bad row from one host must not hide every host's requests
    from the approvers (it is logged, and stays out of every list; it cannot be answered)."""
    found: list[QueuedRequest] = []
    for row in rows:
        try:
            found.append(_request(row))
        except ApprovalError as exc:
            _log.warning("%s", exc.message)
    return found


def _ref(row: Any) -> str:
    return _exact(row["id"], row["db_role"])


def _exact(call_id: str, role: str | None) -> str:
    """The name of exactly this row, also for one with no role (``id@``): a request's ``ref`` is its
    bare id there, which a host's request under the same id makes name two rows."""
    return f"{call_id}@{role or ''}"


def _short(ref: str) -> str:
    call_id, role, qualified = split_ref(ref)
    return call_id[:12] + (f"@{role or ''}" if qualified else "")


def _role_is(role: str | None, qualified: bool) -> tuple[str, tuple[Any, ...]]:
    """The SQL narrowing a query to ``role``'s rows (``id@``: rows with no verified role)."""
    if not qualified:
        return "", ()
    return (" AND db_role = %s", (role,)) if role is not None else (" AND db_role IS NULL", ())


def _naming(ref: str) -> tuple[str, tuple[Any, ...]]:
    """The SQL condition for the rows ``ref`` can name (more than one: a bare id hosts share)."""
    call_id, role, qualified = split_ref(ref)
    where, params = _role_is(role, qualified)
    return "id = %s" + where, (call_id, *params)


def _one(rows: list[Any], ref: str) -> Any:
    """The one row ``ref`` named; none, or a bare id that rows of more than one host hold, is an
    ``ApprovalError`` (the matches' refs in it, so the approver can name the one meant)."""
    if not rows:
        raise ApprovalError(f"no approval request {ref!r}", request_id=ref)
    if len(rows) > 1:
        refs = [_ref(r) for r in rows]
        raise ApprovalError(
            f"{ref!r} names requests from more than one host (database role); name one as id@role:"
            f" {', '.join(refs)}",
            request_id=ref,
            matches=refs,
        )
    return rows[0]


class PostgresApprovalStore(PostgresGrants):
    """:class:`ApprovalStore` on the PostgreSQL database at ``url`` (schema from ``agentguard db upgrade``).

    ``owner_stale_s``: how long an owner's heartbeat may be silent before its requests are abandoned
    (heartbeats are written every ``heartbeat_s``); a request still pending ``stale_after_s`` after its
    deadline has no waiter left, whoever owns it (a waiter gives up at the deadline). ``database``:
    share a :class:`Database` (pool) instead of opening one; it is then not closed with the store.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        database: Database | None = None,
        audit: AuditSink | None = None,
        sweep: bool = True,
        clock: Callable[[], float] = time.time,
        heartbeat_s: float = 5.0,
        owner_stale_s: float = 30.0,
        stale_after_s: float = 60.0,
        readonly: bool = False,
        lock_wait_s: float = 5.0,
    ) -> None:
        super().__init__(
            url,
            database=database,
            audit=audit,
            clock=clock,
            heartbeat_s=heartbeat_s,
            readonly=readonly,
            lock_wait_s=lock_wait_s,
        )
        self.owner_stale_s = owner_stale_s
        self.stale_after_s = stale_after_s
        self.export_error: str | None = None  # no grants.csv export: the database is the only copy
        if readonly:
            return
        self.flush_audit()
        if sweep:
            self.sweep()

    # -- requests -----------------------------------------------------------------------------

    def submit(self, request: ApprovalRequest, owner: Owner) -> QueuedRequest:
        """Queue ``request`` for ``owner``, whose heartbeat this process keeps up from now on. Its id
        need only be new for this host role: another host's request under the same id (a host can
        read every call id in the audit trail) is that host's row, not this one's."""
        from psycopg.errors import UniqueViolation

        if not _ID.fullmatch(request.call.id):
            raise ApprovalError(
                f"call id {request.call.id!r}: {_ID_RULE}",
                request_id=request.call.id,
                field="id",
            )
        now = self.clock()
        key = (owner.host, owner.pid, owner.start or "")
        try:
            with self._write() as conn:
                row = conn.execute(
                    "INSERT INTO ag_requests (id, agent, tool, request, submitted_at, deadline, owner_pid,"
                    " owner_host, owner_start) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING db_role",
                    (
                        request.call.id,
                        request.call.agent,
                        request.call.tool,
                        request.model_dump_json(),
                        now,
                        now + request.timeout_s,
                        owner.pid,
                        owner.host,
                        owner.start,
                    ),
                ).fetchone()
                conn.execute(HEARTBEAT, key)
        except ApprovalError as exc:
            if isinstance(exc.__cause__, UniqueViolation) or isinstance(
                getattr(exc.__cause__, "__cause__", None), UniqueViolation
            ):
                raise ApprovalError(
                    f"call {request.call.id} is already in the approval queue", request_id=request.call.id
                ) from exc
            raise
        self._owners.add(key)
        self._ensure_listener()
        return self.get(_exact(request.call.id, row[0]))

    def get(self, request_id: str) -> QueuedRequest:
        """The request ``request_id`` names: a ref (``id@role``), or a bare id only one row holds."""
        where, params = _naming(request_id)
        rows = self._read(f"SELECT * FROM ag_requests WHERE {where} ORDER BY seq LIMIT 10", params)  # noqa: S608
        return _request(_one(rows, request_id))

    def lookup(self, id_or_prefix: str) -> QueuedRequest:
        """The one request an id prefix names, with ``@role`` where hosts share the id."""
        prefix, role, qualified = split_ref(id_or_prefix.strip())
        prefix = prefix.lower()
        if not prefix or not all(c in "0123456789abcdef" for c in prefix):
            raise ApprovalError(f"{id_or_prefix!r} is not a request id (hex digits)", request_id=id_or_prefix)
        where, params = _role_is(role, qualified)
        rows = self._read(
            f"SELECT * FROM ag_requests WHERE id >= %s AND id < %s AND id ~ %s{where}"  # noqa: S608
            " ORDER BY seq LIMIT 10",  # a row no ref can name (its id) makes no prefix ambiguous
            (prefix, prefix + "g", f"^{_ID.pattern}$", *params),
        )
        if not rows:
            raise ApprovalError(f"no approval request matches {id_or_prefix!r}", request_id=id_or_prefix)
        if len({r["id"] for r in rows}) > 1:
            raise ApprovalError(
                f"{id_or_prefix!r} matches more than one request; give more characters",
                request_id=id_or_prefix,
                matches=[_ref(r) for r in rows],
            )
        return _request(_one(rows, id_or_prefix))

    def pending(self) -> list[QueuedRequest]:
        rows = self._read("SELECT * FROM ag_requests WHERE status = 'pending' ORDER BY seq")
        return _readable(rows)

    def recent(self, limit: int = 100) -> list[QueuedRequest]:
        rows = self._read("SELECT * FROM ag_requests ORDER BY seq DESC LIMIT %s", (limit,))
        return _readable(rows)

    def _answered_or_raise(self, ref: str, wanted: str) -> None:
        current = self.get(ref)
        raise AlreadyAnswered(
            f"request {_short(ref)} was already {current.state.value}"
            + (f" by {current.approver}" if current.approver else "")
            + f"; the {wanted} was not applied",
            request_id=ref,
            state=current.state.value,
        )

    @staticmethod
    def _row_of(conn: Any, request_id: str) -> tuple[str, str | None]:
        """The (id, role) of the one row ``request_id`` names, read in the change's transaction: a
        bare id two hosts share is refused, never taken to mean either. A ref names its row already
        (no read: the update finds it, or nothing)."""
        call_id, role, qualified = split_ref(request_id)
        if qualified:
            return call_id, role
        where, params = _naming(request_id)
        found = conn.execute(
            f"SELECT id, db_role FROM ag_requests WHERE {where} ORDER BY seq LIMIT 10",  # noqa: S608
            params,
        ).fetchall()
        row = _one([{"id": r[0], "db_role": r[1]} for r in found], request_id)
        return row["id"], row["db_role"]

    def resolve(self, request_id: str, answer: Answer, grant: Grant | None = None) -> QueuedRequest:
        """Answer a pending request exactly once; with ``grant``, store it in the same transaction."""
        if answer.status not in (ApprovalStatus.APPROVED, ApprovalStatus.DENIED):
            raise ApprovalError(f"an answer is approved or denied, not {answer.status.value}")
        if grant is not None and answer.status is not ApprovalStatus.APPROVED:
            raise ApprovalError("only an approval can create a grant")
        if grant is not None:
            validate_grant(grant)
        with self._write() as conn:
            call_id, role = self._row_of(conn, request_id)
            cur = conn.execute(
                "UPDATE ag_requests SET status = %s, approver = %s, channel = %s, reason = %s, edited = %s,"
                " scope = %s, grant_id = %s, resolved_at = %s WHERE id = %s"
                " AND db_role IS NOT DISTINCT FROM %s AND status = 'pending'",
                (
                    answer.status.value,
                    answer.approver,
                    answer.channel,
                    answer.reason,
                    dumps(answer.edited_arguments) if answer.edited_arguments is not None else None,
                    answer.scope,
                    grant.id if grant else None,
                    self.clock(),
                    call_id,
                    role,
                ),
            )
            won = cur.rowcount == 1
            if won and grant is not None:
                self._insert_grant(conn, grant)
        ref = _exact(call_id, role)
        if not won:
            self._answered_or_raise(ref, "answer")
        if grant is not None:
            self.flush_audit()
        return self.get(ref)

    def _owe_abandoned(self, conn: Any, call_id: str, role: str | None, row: Any, reason: str) -> None:
        agent, tool, owner_pid, owner_host = row
        self._owe_audit(
            conn,
            "approval.abandoned",
            call_id=call_id,
            agent=agent,
            tool=tool,
            reason=reason,
            owner_pid=owner_pid,
            owner_host=owner_host,
            noticed_by={"pid": os.getpid(), "host": socket.gethostname()},
            **({"host_role": role} if role is not None else {}),
        )

    def close_unanswered(self, request_id: str, state: RequestState, reason: str) -> QueuedRequest:
        if state not in (RequestState.TIMEOUT, RequestState.ABANDONED):
            raise ApprovalError(f"close_unanswered takes timeout or abandoned, not {state.value}")
        with self._write() as conn:
            call_id, role = self._row_of(conn, request_id)
            row = conn.execute(
                "UPDATE ag_requests SET status = %s, approver = 'agentguard', channel = 'queue', reason = %s,"
                " resolved_at = %s WHERE id = %s AND db_role IS NOT DISTINCT FROM %s AND status = 'pending'"
                " RETURNING agent, tool, owner_pid, owner_host",
                (state.value, reason, self.clock(), call_id, role),
            ).fetchone()
            if row is not None and state is RequestState.ABANDONED:
                self._owe_abandoned(conn, call_id, role, row, reason)
        if state is RequestState.ABANDONED:
            with contextlib.suppress(AgentGuardError):
                self.flush_audit()
        return self.get(_exact(call_id, role))

    @staticmethod
    def _local(owner: Owner) -> bool:
        """Whether ``owner`` ran on this machine: host names are unique in a fleet (docs/deployment.md);
        an owner of this host name from an earlier boot is judged here too (its start token differs)."""
        return owner.host == socket.gethostname()

    def sweep(self) -> list[str]:
        """Abandon pending requests whose owner is gone: on this host by ``/proc``; on another by a
        heartbeat silent for ``owner_stale_s`` (database clock); any, ``stale_after_s`` past the
        deadline. Each abandonment is owed to the audit log in the same transaction; their refs."""
        rows = self._read(
            "SELECT r.id, r.db_role, r.agent, r.tool, r.owner_pid, r.owner_host, r.owner_start, r.deadline,"
            " extract(epoch FROM clock_timestamp() - o.seen_at) AS silent FROM ag_requests r"
            " LEFT JOIN ag_owners o ON o.db_role = r.db_role AND o.host = r.owner_host"
            " AND o.pid = r.owner_pid AND o.start = coalesce(r.owner_start, '') WHERE r.status = 'pending'"
        )
        now = self.clock()
        dead: list[tuple[str, str | None, str]] = []
        for row in rows:
            owner = Owner(pid=row["owner_pid"], host=row["owner_host"], start=row["owner_start"])
            key = (row["id"], row["db_role"])
            if row["deadline"] + self.stale_after_s < now:
                dead.append((*key, "no answer long past the deadline and no waiter left"))
            elif self._local(owner):
                if is_alive(owner) is False:
                    dead.append((*key, "the agent process that asked has exited"))
            elif row["silent"] is not None and float(row["silent"]) > self.owner_stale_s:
                dead.append((*key, f"the asking process on {owner.host} stopped its heartbeat"))
        swept: list[str] = []
        if not dead or self.readonly:
            return swept
        with self._write() as conn:
            for call_id, role, reason in dead:
                row = self._abandon_unless_locked(conn, call_id, role, reason, now)
                if row is not None:
                    swept.append(request_ref(call_id, role))
                    self._owe_abandoned(conn, call_id, role, row, reason)
        self.flush_audit()
        return swept

    @staticmethod
    def _abandon_unless_locked(conn: Any, call_id: str, role: str | None, reason: str, now: float) -> Any:
        """Abandon one dead request; one a session keeps locked past the lock timeout (its host can)
        is left for the next sweep, so it cannot stop the sweep of every other host's requests."""
        from psycopg.errors import LockNotAvailable

        try:
            with conn.transaction():  # a savepoint: only this request's update is undone
                return conn.execute(
                    "UPDATE ag_requests SET status = 'abandoned', approver = 'agentguard', channel = 'sweep',"
                    " reason = %s, resolved_at = %s WHERE id = %s AND db_role IS NOT DISTINCT FROM %s"
                    " AND status = 'pending' RETURNING agent, tool, owner_pid, owner_host",
                    (reason, now, call_id, role),
                ).fetchone()
        except LockNotAvailable:
            held = request_ref(call_id, role)
            _log.warning("request %s is kept locked by another session; left for the next sweep", held)
            return None
