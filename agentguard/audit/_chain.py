"""The on-disk record format: one JSON object per line, hash-chained, plus the checkpoint file.

A line is the canonical body (orjson, sorted keys, compact, without ``hash``) with
``,"hash":"<sha256 hex of the body>"}`` spliced in before the closing brace. The body holds
``prev``, so each hash covers the previous one. Verification strips exactly that suffix and
hashes the remaining bytes: nothing is ever re-serialised, so the check is byte-exact.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

GENESIS = "0" * 64
RESERVED = frozenset({"ts", "event", "seq", "prev", "hash"})

_SUFFIX_HEAD = b',"hash":"'
_SUFFIX_TAIL = b'"}\n'
SUFFIX_LEN = len(_SUFFIX_HEAD) + 64 + len(_SUFFIX_TAIL)  # 76
_HEX = frozenset(b"0123456789abcdef")


def seal(body: bytes) -> tuple[bytes, str]:
    """The full line for a canonical ``body`` (which ends in ``}``) and its hash."""
    digest = hashlib.sha256(body).hexdigest()
    return body[:-1] + _SUFFIX_HEAD + digest.encode("ascii") + _SUFFIX_TAIL, digest


_second: list[tuple[int, str]] = [(-1, "")]  # the last whole second formatted, shared by all logs
# The fraction as two table lookups: formatting ``{us:06d}`` was most of the stamp's cost.
_MILLIS = tuple(f".{n:03d}" for n in range(1000))
_MICROS = tuple(f"{n:03d}Z" for n in range(1000))


def iso_ns(ns: int) -> str:
    """``ns`` (``time.time_ns()``) as ISO 8601 UTC with microseconds (``2026-01-31T12:00:00.123456Z``),
    the form structlog's ``TimeStamper(fmt="iso", utc=True)`` writes, at a tenth of its cost: the date
    and time of day are formatted once a second."""
    sec = ns // 1_000_000_000
    cached, prefix = _second[0]
    if sec != cached:
        prefix = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second[0] = (sec, prefix)
    us = ns // 1000 % 1_000_000
    return prefix + _MILLIS[us // 1000] + _MICROS[us % 1000] if us else prefix + "Z"


def canonical(event_dict: Mapping[str, Any]) -> bytes:
    return orjson.dumps(event_dict, option=orjson.OPT_SORT_KEYS)


def seal_chain(
    records: list[MutableMapping[str, Any]], seq: int, prev: str, pause: int
) -> tuple[list[bytes], str]:
    """Link ``records`` into the chain after ``prev`` (numbered from ``seq``) and render them: the
    lines (``seal(canonical(...))`` of each, byte for byte) and the last hash. A ``ts`` that is still
    ``time.time_ns()`` (``AuditLog.record`` leaves formatting it to the writer, off the caller's
    path) becomes its ``iso_ns`` text first. This is the writer's GIL-holding loop, so it is ``seal``
    inlined, and ``time.sleep(0)`` every ``pause`` records lets waiting threads in."""
    dumps, sort, sha256, head, tail, sleep, stamp = (
        orjson.dumps,
        orjson.OPT_SORT_KEYS,
        hashlib.sha256,
        _SUFFIX_HEAD,
        _SUFFIX_TAIL,
        time.sleep,
        iso_ns,
    )
    parts: list[bytes] = []
    append = parts.append
    left = pause
    for record in records:
        left -= 1
        if not left:
            sleep(0)
            left = pause
        if type(record.get("ts")) is int:
            record["ts"] = stamp(record["ts"])
        record["seq"] = seq
        record["prev"] = prev
        body = dumps(record, option=sort)
        prev = sha256(body).hexdigest()
        append(body[:-1] + head + prev.encode("ascii") + tail)
        seq += 1
    return parts, prev


@dataclass(frozen=True, slots=True)
class ParsedLine:
    body: bytes
    stated_hash: str
    record: dict[str, Any]


class LineFormatError(ValueError):
    """A line is not a well-formed audit record (says why)."""


def split_line(line: bytes) -> tuple[bytes, str]:
    """``(body, stated hash)`` of a complete line (ending in ``\\n``); raises ``LineFormatError``."""
    if len(line) <= SUFFIX_LEN + 1 or line[-SUFFIX_LEN : -SUFFIX_LEN + len(_SUFFIX_HEAD)] != _SUFFIX_HEAD:
        raise LineFormatError('line does not end in a ,"hash":"<64 hex>"} field')
    if line[-len(_SUFFIX_TAIL) :] != _SUFFIX_TAIL:
        raise LineFormatError('line does not end in a ,"hash":"<64 hex>"} field')
    stated = line[-SUFFIX_LEN + len(_SUFFIX_HEAD) : -len(_SUFFIX_TAIL)]
    if not _HEX.issuperset(stated):
        raise LineFormatError("hash field is not 64 lowercase hex digits")
    return line[:-SUFFIX_LEN] + b"}", stated.decode("ascii")


def parse_line(line: bytes) -> ParsedLine:
    """Split and decode a line without checking its hash (the tail reader trusts the verifier for that)."""
    body, stated = split_line(line)
    try:
        record = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise LineFormatError(f"not valid JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise LineFormatError("not a JSON object")
    seq = record.get("seq")
    if type(seq) is not int or seq < 0:
        raise LineFormatError("seq is missing or not a non-negative integer")
    return ParsedLine(body, stated, record)


# --- checkpoint ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mark:
    """A place in the chain: a record's ``seq``, ``hash`` and the byte offset just after it.

    The empty log is ``Mark(-1, GENESIS, 0)``.
    """

    seq: int
    hash: str
    end: int


EMPTY = Mark(-1, GENESIS, 0)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What the file must end with: the last durable record, and the batch being written, if any.

    A writer first records its batch as ``pending`` (fsynced), then writes and fsyncs the batch,
    then moves the checkpoint to the batch's end. So a crash can only ever leave the file ending
    at ``committed``, at ``pending``, or at a whole-record prefix of the pending batch (plus torn
    bytes inside it). Anything else was done to the file, not by a crash.
    """

    committed: Mark
    pending: Mark | None = None

    @property
    def seq(self) -> int:
        return self.committed.seq

    @property
    def hash(self) -> str:
        return self.committed.hash

    @property
    def end(self) -> int:
        return self.committed.end


def checkpoint_path(log: Path) -> Path:
    return log.with_name(log.name + ".head")


@functools.lru_cache(maxsize=64)
def _checkpoint_files(log: Path, pid: int) -> tuple[str, str]:
    """The checkpoint's path and this process's temp file beside it, as strings: the writer thread
    opens them on every batch, and building them with pathlib each time cost more than the opens."""
    target = checkpoint_path(log)
    return str(target), str(target.with_name(f"{target.name}.tmp-{pid}"))


class CheckpointError(ValueError):
    pass


def _mark(data: Any) -> Mark:
    if not isinstance(data, dict):
        raise CheckpointError("checkpoint file is not valid JSON with seq, hash and end")
    try:
        seq, digest, end = data["seq"], data["hash"], data["end"]
    except KeyError as exc:
        raise CheckpointError("checkpoint file is not valid JSON with seq, hash and end") from exc
    if type(seq) is not int or type(end) is not int or not isinstance(digest, str) or len(digest) != 64:
        raise CheckpointError("checkpoint file has wrongly typed seq, hash or end")
    if seq < -1 or end < 0:
        raise CheckpointError("checkpoint file has a negative seq or end")
    return Mark(seq, digest, end)


def read_checkpoint(log: Path) -> Checkpoint | None:
    """The checkpoint beside ``log``, ``None`` if there is none; ``CheckpointError`` if unreadable."""
    # os-level: the writer thread reads it on every batch, and each call hands the GIL over. Not
    # through a link, not waiting on a FIFO, and one bounded read: a link to /dev/zero or a FIFO
    # planted here hung the writer, holding the lock every writer needs.
    try:
        fd = os.open(_checkpoint_files(log, os.getpid())[0], _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint: {_why(exc)}") from exc
    try:
        raw = os.read(fd, _CHECKPOINT_MAX)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint: {_why(exc)}") from exc
    finally:
        os.close(fd)
    if len(raw) == _CHECKPOINT_MAX:
        raise CheckpointError("checkpoint file is too large to be one")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CheckpointError("checkpoint file is not valid JSON with seq, hash and end") from exc
    committed = _mark(data)
    pending = data.get("pending")
    return Checkpoint(committed, None if pending is None else _mark(pending))


_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHECKPOINT_MAX = 1 << 16  # a checkpoint is about 250 bytes


def _why(exc: OSError) -> str:
    return "it is a symbolic link" if exc.errno == errno.ELOOP else str(exc.strerror)


def _mark_json(mark: Mark) -> dict[str, Any]:
    return {"seq": mark.seq, "hash": mark.hash, "end": mark.end}


def create_fresh(path: str) -> int:
    """A new file at ``path`` for writing, never opened through a link planted at the name (a temp
    file's name, with its pid, is no secret: a link there had the writer truncate any file it may write)."""
    try:
        return os.open(path, _TEMP_FLAGS, 0o600)
    except FileExistsError:  # left by a killed writer with this pid, or planted: the name goes
        os.unlink(path)
        return os.open(path, _TEMP_FLAGS, 0o600)


def write_checkpoint(log: Path, cp: Checkpoint, *, sync: bool = True) -> None:
    """Atomically replace the checkpoint: temp file, (fsync,) rename. Caller holds the log lock.

    ``sync=False`` is for the commit after a batch: losing it in a power cut leaves the
    ``pending`` checkpoint, which names the same end, so it need not be durable.
    """
    target, tmp = _checkpoint_files(log, os.getpid())
    body = _mark_json(cp.committed)
    if cp.pending is not None:
        body["pending"] = _mark_json(cp.pending)
    data = orjson.dumps(body) + b"\n"
    fd = create_fresh(tmp)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)


def remove_stale_temps(log: Path) -> list[Path]:
    """Remove checkpoint temp files left by writers killed mid-replace. Caller holds the log lock.

    Every checkpoint is written under the exclusive lock, so while we hold it no temp file can
    belong to a live write: any that exists is left over from a killed process (``kill -9``).
    """
    target = checkpoint_path(log)
    prefix = f"{target.name}.tmp-"
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(prefix) and entry.name[len(prefix) :].isdigit():
            try:
                os.unlink(entry.path)
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed
