"""Test doubles shipped with the package, for what is not ours to test (a person, an LLM, Docker).

Use these instead of patching import paths::

    from agentguard.testing import FakeSandbox, MemoryAudit, ScriptedApprover
    guard = Guard(policy_dir, approver=ScriptedApprover(["approve", "deny: not today"]), audit=MemoryAudit())
    guard.register_builtins(sandbox=FakeSandbox(lambda request: "hello\n"))
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentguard.approval.scripted import DenyApprover, ScriptedApprover
from agentguard.errors import SandboxError
from agentguard.sandbox_api import EndReason, SandboxRequest, SandboxResult, SandboxSettings

__all__ = ["DenyApprover", "FakeResolver", "FakeSandbox", "MemoryAudit", "ScriptedApprover"]


class MemoryAudit:
    """An in-memory ``AuditSink``: keeps every record (no chain); ``events`` lists their names."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: list[dict[str, Any]] = []

    def record(self, event: str, /, **fields: Any) -> None:
        with self._lock:
            self.records.append({"seq": len(self.records), "event": event, **fields})

    @property
    def events(self) -> list[str]:
        return [r["event"] for r in self.records]

    def for_call(self, call_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("call_id") == call_id]

    def close(self) -> None:
        """Nothing to flush."""


class FakeSandbox:
    """A ``SandboxBackend`` that runs nothing: ``reply`` answers each request, and ``requests`` keeps them.

    ``reply`` returns a ``SandboxResult``, or a string taken as the stdout of a run that exited 0
    (default: empty output). Profiles are resolved as the Docker sandbox resolves them, so an unknown
    profile is a ``SandboxError`` and the result names the profile's loosenings.
    """

    def __init__(
        self,
        reply: Callable[[SandboxRequest], SandboxResult | str] | None = None,
        *,
        settings: SandboxSettings | None = None,
    ) -> None:
        self._reply = reply
        self._settings = settings or SandboxSettings()
        self._lock = threading.Lock()
        self.requests: list[SandboxRequest] = []

    def execute(self, request: SandboxRequest) -> SandboxResult:
        name = request.profile or self._settings.default_profile
        profile = self._settings.profiles.get(name)
        if profile is None:
            raise SandboxError(f"unknown sandbox profile {name!r}", profile=name)
        with self._lock:
            self.requests.append(request)
        answer = self._reply(request) if self._reply is not None else ""
        if isinstance(answer, SandboxResult):
            return answer
        return SandboxResult(
            exit_code=0,
            stdout=answer,
            stderr="",
            duration_ms=0.0,
            end_reason=EndReason.EXITED,
            language=request.language,
            profile=name,
            loosenings=tuple(profile.loosenings()),
            call_id=request.call_id,
        )


class FakeResolver:
    """A ``Resolver`` over a fixed table, since DNS is not ours to test.

    ``FakeResolver({"a.test": ["10.0.0.1"]})``.

    A name not in the table does not resolve (``OSError``); ``lookups`` counts the questions asked.
    Assign to ``table`` to change an answer (a rebinding DNS server).
    """

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in table.items()}
        self.lookups: list[str] = []

    def resolve(self, host: str) -> Sequence[str]:
        self.lookups.append(host)
        try:
            return self.table[host]
        except KeyError:
            raise OSError(f"{host}: name does not resolve") from None
