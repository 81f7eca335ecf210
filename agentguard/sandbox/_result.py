"""What one sandboxed execution produced."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

__all__ = ["EndReason", "SandboxResult"]


class EndReason(StrEnum):
    """Why the execution ended.

    ``exited``: the program ended by itself (any exit code, including death by a signal).
    ``timeout``: the wall-clock limit passed; the container was killed.
    ``oom``: the kernel killed the program for exceeding the memory limit.
    ``output_limit``: stdout or stderr passed its byte cap; the container was killed.
    ``error``: the sandbox itself failed (container died without a report, protocol error).
    """

    EXITED = "exited"
    TIMEOUT = "timeout"
    OOM = "oom"
    OUTPUT_LIMIT = "output_limit"
    ERROR = "error"


class SandboxResult(BaseModel):
    """The outcome of one execution. ``exit_code`` is ``None`` when the program was killed by us."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exit_code: int | None
    stdout: str
    stderr: str
    duration_ms: float
    end_reason: EndReason
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    signal: int | None = None
    peak_memory_bytes: int | None = None
    cpu_time_ms: float | None = None
    language: str
    profile: str
    loosenings: tuple[str, ...] = ()
    call_id: str | None = None
    container_id: str | None = None
    warm: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        """The program ran to its end and returned exit code 0."""
        return self.end_reason is EndReason.EXITED and self.exit_code == 0
