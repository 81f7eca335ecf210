"""The PostgreSQL store's grants: "approve always" rules every host's policy engine reads.

Every change bumps ``grants_version`` and owes its audit record in the same transaction, so what is
enforced never lags what is stored and no change goes unaudited.
"""

from __future__ import annotations

from typing import Any

from agentguard.approval._pg_database import PostgresQueueDatabase
from agentguard.approval._records import Grant
from agentguard.approval._rows import grant_values, row_to_grant
from agentguard.approval._store_api import validate_grant
from agentguard.errors import ApprovalError

__all__ = ["PostgresGrants"]


class PostgresGrants(PostgresQueueDatabase):
    """The grants half of :class:`PostgresApprovalStore` (the queue half answers with them)."""

    def _insert_grant(self, conn: Any, grant: Grant) -> None:
        conn.execute(
            "INSERT INTO ag_grants (id, agent, tool, scope, condition, created_by, created_at, expires_at,"
            " request_id, host_role) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (*grant_values(grant), grant.host_role),
        )
        self._grants_changed(conn, "grant.created", grant)

    def _grants_changed(self, conn: Any, event: str, grant: Grant) -> None:
        conn.execute("UPDATE ag_meta SET value = value + 1 WHERE key = 'grants_version'")
        fields: dict[str, Any] = {
            "grant_id": grant.id,
            "agent": grant.agent,
            "tool": grant.tool,
            "scope": grant.scope.value,
            "condition": grant.condition,
            "created_by": grant.created_by,
            "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
            "request_id": grant.request_id,
        }
        if grant.host_role is not None:
            fields["host_role"] = grant.host_role
        if event == "grant.revoked":
            fields["revoked_by"] = grant.revoked_by
        self._owe_audit(conn, event, **fields)

    def grants(self, *, include_inactive: bool = False) -> list[Grant]:
        found = [row_to_grant(r) for r in self._read("SELECT * FROM ag_grants ORDER BY seq")]
        now = self.now()
        return found if include_inactive else [g for g in found if g.active(now)]

    def grants_version(self) -> int:
        rows = self._read("SELECT value FROM ag_meta WHERE key = 'grants_version'")
        return int(rows[0]["value"]) if rows else 0

    def add_grant(self, grant: Grant) -> Grant:
        validate_grant(grant)
        with self._write() as conn:
            self._insert_grant(conn, grant)
        self.flush_audit()
        return grant

    def lookup_grant(self, id_or_prefix: str) -> Grant:
        prefix = id_or_prefix.strip().lower()
        if not prefix or not all(c in "0123456789abcdef" for c in prefix):
            raise ApprovalError(f"{id_or_prefix!r} is not a grant id (hex digits)", grant_id=id_or_prefix)
        rows = self._read(
            "SELECT * FROM ag_grants WHERE id >= %s AND id < %s ORDER BY seq LIMIT 3", (prefix, prefix + "g")
        )
        if not rows:
            raise ApprovalError(f"no grant matches {id_or_prefix!r}", grant_id=id_or_prefix)
        if len(rows) > 1:
            raise ApprovalError(
                f"{id_or_prefix!r} matches more than one grant; give more characters", grant_id=id_or_prefix
            )
        return row_to_grant(rows[0])

    def revoke_grant(self, grant_id: str, by: str) -> Grant:
        """Revoke a grant: it stops applying on every host at the next call after this commits."""
        from psycopg.rows import dict_row

        with self._write() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "UPDATE ag_grants SET revoked_at = %s, revoked_by = %s WHERE id = %s AND revoked_at IS NULL"
                " RETURNING *",
                (self.clock(), by, grant_id),
            )
            changed = cur.fetchone()
            if changed is not None:
                self._grants_changed(conn, "grant.revoked", row_to_grant(changed))
                row = changed
            else:
                cur.execute("SELECT * FROM ag_grants WHERE id = %s", (grant_id,))
                row = cur.fetchone()
        if row is None:
            raise ApprovalError(f"no grant {grant_id!r}", grant_id=grant_id)
        self.flush_audit()
        return row_to_grant(row)
