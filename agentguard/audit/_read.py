"""Reading the log: all records, the last N (seeking from the end), filtered queries, following."""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import orjson

from agentguard.errors import AuditError

__all__ = [
    "CallIndex",
    "CallInfo",
    "filter_records",
    "follow",
    "parse_since",
    "query",
    "read_last",
    "read_records",
]

_CHUNK = 64 * 1024


def open_log(path: Path) -> int:
    """A descriptor to read the log at ``path``; ``AuditError`` if there is none or it is not a
    regular file. Opened without blocking: a FIFO put at the path hung every reader (the web
    console's and the TUI's audit views among them), waiting for a writer that never comes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise AuditError(
            f"no audit log at {path}; run something through the guard first", path=str(path)
        ) from exc
    except OSError as exc:
        raise AuditError(f"{path}: cannot read audit log: {exc.strerror}", path=str(path)) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise AuditError(f"{path}: not a regular file, so not an audit log", path=str(path))
    return fd


def _open(path: Path) -> Any:
    return os.fdopen(open_log(path), "rb")


def _decode(path: Path, line: bytes, where: str) -> dict[str, Any]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise AuditError(f"{path}:{where}: not a JSON record ({exc})", path=str(path)) from exc
    if not isinstance(record, dict):
        raise AuditError(f"{path}:{where}: not a JSON object", path=str(path))
    return record


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete record in file order (a torn last line is skipped; ``verify`` reports it).

    This reads, it does not verify: run :func:`verify` to trust what it returns.
    """
    path = Path(path)
    with _open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                return
            yield _decode(path, line, f"line {number}")


def read_last(path: Path, n: int) -> list[dict[str, Any]]:
    """The last ``n`` complete records, reading backwards from the end: cheap on a big file."""
    path = Path(path)
    if n <= 0:
        return []
    with _open(path) as f:
        size = os.fstat(f.fileno()).st_size
        chunks: list[bytes] = []
        newlines = 0
        pos = size
        while pos > 0 and newlines <= n:
            start = max(0, pos - _CHUNK)
            f.seek(start)
            chunk = f.read(pos - start)
            chunks.append(chunk)
            newlines += chunk.count(b"\n")
            pos = start
        data = b"".join(reversed(chunks))
        cut = data.rfind(b"\n") + 1  # drop a torn tail
        end = size - (len(data) - cut)
        lines = data[:cut].split(b"\n")[:-1][-n:]
    first = end - sum(len(x) + 1 for x in lines)
    out = []
    for line in lines:
        out.append(_decode(path, line, f"byte {first}"))
        first += len(line) + 1
    return out


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What is known about a call from its earlier records: who, what, and the verdict so far."""

    agent: str | None = None
    tool: str | None = None
    effect: str | None = None
    status: str | None = None


class CallIndex:
    """Remembers each call's agent, tool, effect and approval status from the records seen so far,
    so every record of a call can be shown and filtered by them (only ``call.received`` has the
    agent and tool, only ``policy.decided`` the effect)."""

    def __init__(self) -> None:
        self._calls: dict[str, CallInfo] = {}

    def update(self, record: dict[str, Any]) -> CallInfo:
        """Fold ``record`` in and return what is known about its call (or the record itself)."""
        call_id = record.get("call_id")
        known = self._calls.get(call_id, CallInfo()) if isinstance(call_id, str) else CallInfo()
        info = CallInfo(
            agent=_str(record.get("agent")) or known.agent,
            tool=_str(record.get("tool")) or known.tool,
            effect=_str(record.get("effect")) or known.effect,
            status=_str(record.get("status")) or known.status,
        )
        if isinstance(call_id, str) and info != known:
            self._calls[call_id] = info
        return info


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``10m``, ``2h``, ``1d`` (ago) or an ISO 8601 timestamp (naive means local time) as UTC."""
    m = _DURATION.match(text)
    if m:
        now = now or datetime.now(UTC)
        return now - timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (30s, 10m, 2h, 1d, 1w) nor an ISO timestamp (2024-05-01T10:00)"
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()
    return when.astimezone(UTC)


def _record_time(record: dict[str, Any]) -> datetime | None:
    ts = record.get("ts")
    if not isinstance(ts, str):
        return None
    try:
        when = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def query(
    path: Path,
    *,
    agent: str | None = None,
    tool: str | None = None,
    effect: str | None = None,
    event: str | None = None,
    call_id: str | None = None,
    since: datetime | None = None,
    index: CallIndex | None = None,
) -> Iterator[dict[str, Any]]:
    """Records matching every given filter, in file order.

    ``agent``/``tool``/``effect`` match a record's own field or, failing that, its call's (from
    earlier records of the same ``call_id``). ``event`` may be a glob (``approval.*``); ``call_id``
    may be a prefix; ``since`` keeps records at or after that time. Pass your own ``index`` to
    look up the call behind each returned record afterwards (it sees every record, matched or not).
    """
    return filter_records(
        read_records(path),
        index or CallIndex(),
        agent=agent,
        tool=tool,
        effect=effect,
        event=event,
        call_id=call_id,
        since=since,
    )


def filter_records(
    records: Iterable[dict[str, Any]],
    index: CallIndex,
    *,
    agent: str | None = None,
    tool: str | None = None,
    effect: str | None = None,
    event: str | None = None,
    call_id: str | None = None,
    since: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """``query``'s filters over any records (the file's, or the database's)."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    for record in records:
        info = index.update(record)
        if agent is not None and info.agent != agent:
            continue
        if tool is not None and info.tool != tool:
            continue
        if effect is not None and info.effect != effect:
            continue
        if event is not None and not fnmatchcase(str(record.get("event", "")), event):
            continue
        if call_id is not None and not str(record.get("call_id", "")).startswith(call_id):
            continue
        if since is not None:
            when = _record_time(record)
            if when is None or when < since:
                continue
        yield record


def follow(
    path: Path, *, from_end: bool = True, interval_s: float = 0.25, stop: threading.Event | None = None
) -> Iterator[dict[str, Any]]:
    """Yield records as they are appended, until ``stop`` is set (polls every ``interval_s``).

    The file is opened (and its end noted) before this returns, so nothing appended after the
    call is missed. Copes with the file being truncated (crash repair) or replaced.
    """
    path = Path(path)
    f = _open(path)
    st = os.fstat(f.fileno())
    return _follow(path, f, st.st_ino, st.st_size if from_end else 0, interval_s, stop or threading.Event())


def _follow(
    path: Path, f: Any, ino: int, pos: int, interval_s: float, stop: threading.Event
) -> Iterator[dict[str, Any]]:
    partial = b""
    try:
        while not stop.is_set():
            try:
                st = os.stat(path)
            except FileNotFoundError:
                st = None
            if st is not None and st.st_ino != ino:
                f.close()
                f = _open(path)
                ino, pos, partial = os.fstat(f.fileno()).st_ino, 0, b""
            size = os.fstat(f.fileno()).st_size
            if size < pos:
                pos, partial = size, b""
            if size > pos:
                f.seek(pos)
                data = partial + f.read(size - pos)
                pos = size
                cut = data.rfind(b"\n") + 1
                partial = data[cut:]
                for line in data[:cut].split(b"\n")[:-1]:
                    yield _decode(path, line, "appended line")
                continue
            stop.wait(interval_s)
    finally:
        f.close()
