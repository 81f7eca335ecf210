"""Which process owns a pending request, and whether that process is still alive.

A pid alone is not enough: pids are reused. The owner is recorded as pid + host + a start token
(boot id and the process start time from ``/proc``), so a new process that happens to get the same
pid is not mistaken for the one that asked.
"""

from __future__ import annotations

import getpass
import os
import socket
from pathlib import Path

from pydantic import BaseModel, ConfigDict

__all__ = ["Owner", "current_user", "is_alive"]

_PROC = Path("/proc")


class Owner(BaseModel):
    """The agent process waiting for an answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pid: int
    host: str
    start: str | None = None

    @classmethod
    def current(cls) -> Owner:
        pid = os.getpid()
        return cls(pid=pid, host=socket.gethostname(), start=_start_token(pid))


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


def is_alive(owner: Owner) -> bool | None:
    """``True``/``False`` for an owner on this host; ``None`` when it cannot be told (another host)."""
    if owner.host != socket.gethostname():
        return None
    fields = _stat_fields(owner.pid)
    if fields is not None:
        if fields[0] in ("Z", "X"):
            return False
        if owner.start is not None:
            return _start_token(owner.pid) == owner.start
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


def current_user() -> str:
    """The OS user name, the default approver identity."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"
