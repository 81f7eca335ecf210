"""The audit browser's data: the tail of the log, filtered, and the hash chain's status."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentguard.audit import CallIndex, checkpoint_path, parse_since, read_last, verify
from agentguard.errors import AgentGuardError

__all__ = ["AuditFilters", "AuditRow", "audit_rows", "chain_status"]

_FILTERS = ("agent", "tool", "effect", "session", "since", "until")


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """Substring filters (case-insensitive) and a time window (``10m``, ``2h``, ISO 8601)."""

    agent: str = ""
    tool: str = ""
    effect: str = ""
    session: str = ""
    since: str = ""
    until: str = ""

    @classmethod
    def from_query(cls, query: Any) -> AuditFilters:
        return cls(**{name: str(query.get(name, "")).strip()[:200] for name in _FILTERS})

    def window(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """``ValueError`` naming the field when a time does not parse."""
        bounds: list[datetime | None] = []
        for name in ("since", "until"):
            text = getattr(self, name)
            try:
                bounds.append(parse_since(text, now=now) if text else None)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return bounds[0], bounds[1]


@dataclass(frozen=True, slots=True)
class AuditRow:
    ts: str
    event: str
    agent: str
    tool: str
    outcome: str
    session: str
    call_id: str
    approver: str
    reason: str


def _who(record: dict[str, Any]) -> str:
    """The person behind a record: who answered, or who created or revoked a grant."""
    for key in ("approver", "revoked_by", "created_by"):
        if isinstance(record.get(key), str) and record[key]:
            return str(record[key])
    return ""


def _time(record: dict[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(record.get("ts")))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def audit_rows(path: Path | None, filters: AuditFilters, *, limit: int, now: datetime) -> list[AuditRow]:
    """The newest matching records among the last ``limit`` (newest first). Agent, tool, effect and
    session match the record's own field or its call's (from earlier records of the same call)."""
    since, until = filters.window(now)
    if path is None or not path.exists():
        return []
    records = read_last(path, limit)
    index = CallIndex()
    sessions: dict[str, str] = {}
    rows: list[AuditRow] = []
    for record in records:
        info = index.update(record)
        call_id = str(record.get("call_id") or "")
        session = str(record.get("session") or "") or sessions.get(call_id, "")
        if call_id and session:
            sessions[call_id] = session
        outcome = str(record.get("effect") or record.get("status") or info.status or info.effect or "")
        row = AuditRow(
            ts=str(record.get("ts") or ""),
            event=str(record.get("event") or ""),
            agent=info.agent or "",
            tool=info.tool or "",
            outcome=outcome,
            session=session,
            call_id=call_id,
            approver=_who(record),
            reason=str(record.get("reason") or ""),
        )
        checks = (
            (filters.agent, row.agent),
            (filters.tool, row.tool),
            (filters.effect, outcome),
            (filters.session, session),
        )
        if any(want and want.lower() not in have.lower() for want, have in checks):
            continue
        if since is not None or until is not None:
            when = _time(record)
            if when is None or (since and when < since) or (until and when > until):
                continue
        rows.append(row)
    rows.reverse()
    return rows


def _stamp(path: Path) -> tuple[int, int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0, 0)
    return (st.st_ino, st.st_size, st.st_ctime_ns)


def chain_status(path: Path | None) -> dict[str, Any]:
    """``{"state": intact|broken|torn|unacknowledged|unverified|missing, "text": ...}``.

    Verifying reads the whole log, so the answer is kept while neither the log nor its checkpoint
    changed (inode, size, ctime, which every write and every timestamp reset moves): reloading the
    audit page does not re-read the log.
    """
    if path is None or not path.exists():
        return {"state": "missing", "text": "no audit log yet"}
    return dict(_chain_status(path, _stamp(path), _stamp(checkpoint_path(path))))


@functools.lru_cache(maxsize=8)
def _chain_status(path: Path, log: tuple[int, int, int], checkpoint: tuple[int, int, int]) -> dict[str, Any]:
    try:
        report = verify(path)
    except AgentGuardError as exc:
        return {"state": "unverified", "text": f"cannot verify: {exc}"}
    if report.ok:
        return {
            "state": "intact",
            "text": f"intact, {report.records_verified} records, head {(report.head or '')[:12]}",
        }
    if report.first_bad is not None:
        bad = report.first_bad
        return {"state": "broken", "text": f"BROKEN at line {bad.line} (seq {bad.seq}): {bad.reason}"}
    if report.torn_tail is not None:
        return {"state": "torn", "text": f"torn tail at byte {report.torn_tail.offset}"}
    if report.unacknowledged:
        seg = report.unacknowledged[0]
        return {
            "state": "unacknowledged",
            "text": f"segment not acknowledged at line {seg.line}: {seg.reason}",
        }
    return {"state": "unverified", "text": f"not verified: checkpoint {report.checkpoint.status.value}"}
