"""Which process owns something (a pending approval request, a sandbox container), and whether that
process is still alive.

A pid alone is not enough: pids are reused. The owner is recorded as pid + host + a start token
(boot id and the process start time from ``/proc``), so a new process that happens to get the same
pid is not mistaken for the one that asked. One notion for the approval queue (its ``owner_*`` columns)
and the sandbox (its ``io.agentguard.owner-*`` container labels), so both reapers agree on who is dead.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from agentguard.models import FrozenModel

__all__ = ["Owner", "current_owner", "is_alive"]

_PROC = Path("/proc")


class Owner(FrozenModel):
    """A process identity that survives pid reuse: pid and start token, on a host."""

    pid: int
    host: str
    start: str | None = None  # "<boot id>:<start ticks>"; None when /proc could not tell

    @classmethod
    def current(cls) -> Owner:
        return current_owner()


_CURRENT: list[Owner] = []  # [this process's Owner], rebuilt after a fork (the pid changes)


def current_owner() -> Owner:
    """This process (read from ``/proc`` once per process)."""
    pid = os.getpid()
    if not _CURRENT or _CURRENT[0].pid != pid:
        _CURRENT[:] = [Owner(pid=pid, host=socket.gethostname(), start=_start_token(pid))]
    return _CURRENT[0]


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return "?"


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    _, _, rest = raw.rpartition(")")
    return rest.split()


def _start_token(pid: int) -> str | None:
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return None
    return f"{_boot_id()}:{fields[19]}"


def _same_start(recorded: str, token: str | None) -> bool:
    if token is None:
        return False
    if ":" not in recorded:  # a sandbox label written before the owner was one notion: the ticks alone
        return token.rpartition(":")[2] == recorded
    return token == recorded


def is_alive(owner: Owner) -> bool | None:
    """``True``/``False`` for an owner on this host; ``None`` when it cannot be told (another host)."""
    if owner.host != socket.gethostname():
        return None
    fields = _stat_fields(owner.pid)
    if fields is not None:
        if fields[0] in ("Z", "X"):
            return False
        if owner.start:
            return _same_start(owner.start, _start_token(owner.pid))
        return True
    if _PROC.is_dir() and (_PROC / "self").exists():
        return False
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
