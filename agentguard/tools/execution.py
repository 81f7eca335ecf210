"""``python.exec`` and ``shell.run``: code runs in a single-use sandbox container, never on the host."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Literal

from agentguard.context import current_call
from agentguard.settings import Settings

if TYPE_CHECKING:
    from agentguard.sandbox import Sandbox
    from agentguard.tools import ToolSpec

__all__ = ["sandbox_tools"]


class _Runner:
    """One shared Sandbox per settings, started on first use (so policy-only users never touch Docker)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sandbox: Sandbox | None = None
        self._lock = threading.Lock()

    def sandbox(self) -> Sandbox:
        with self._lock:
            if self._sandbox is None:
                from agentguard.sandbox import Sandbox

                self._sandbox = Sandbox(self._settings.sandbox, workspace=self._settings.workspace)
            return self._sandbox

    def close(self) -> None:
        with self._lock:
            sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            sandbox.close()

    def run(self, language: Literal["python", "shell"], code: str) -> Any:
        ctx = current_call()
        profile = ctx.decision.sandbox_profile if ctx else None
        call_id = ctx.call.id if ctx else None
        return self.sandbox().run(language, code, profile=profile, call_id=call_id)


def sandbox_tools(settings: Settings) -> list[ToolSpec]:
    from agentguard.tools import ToolSpec

    runner = _Runner(settings)

    def python_exec(code: str) -> Any:
        """Run Python 3 code in a sandbox container; returns exit code, stdout, stderr, end reason."""
        return runner.run("python", code)

    def shell_run(command: str) -> Any:
        """Run a POSIX shell command in a sandbox container; returns exit code, stdout, stderr, end reason."""
        return runner.run("shell", command)

    return [
        ToolSpec("python.exec", python_exec, python_exec.__doc__ or "", sandboxed=True, close=runner.close),
        ToolSpec("shell.run", shell_run, shell_run.__doc__ or "", sandboxed=True, close=runner.close),
    ]
