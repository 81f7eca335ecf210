"""``python.exec`` and ``shell.run``: code runs in a sandbox backend, never on the host.

The backend is a parameter (``SandboxBackend``): by default the Docker ``Sandbox``, started on first use
so policy-only users never touch Docker; tests pass ``agentguard.testing.FakeSandbox``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from agentguard.context import current_call
from agentguard.sandbox_api import Language, SandboxBackend, SandboxRequest, SandboxResult
from agentguard.settings import Settings

if TYPE_CHECKING:
    from agentguard.sandbox import Sandbox
    from agentguard.tools import ToolSpec
    from agentguard.tools.egress import EgressProxy

__all__ = ["DockerBackend", "sandbox_tools"]


class DockerBackend:
    """The Docker ``Sandbox`` for ``settings``, created on the first request and shared after it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sandbox: Sandbox | None = None
        self._egress: EgressProxy | None = None
        self._lock = threading.Lock()

    def sandbox(self) -> Sandbox:
        with self._lock:
            if self._sandbox is None:
                from agentguard.sandbox import Sandbox
                from agentguard.tools.egress import EgressProxy

                self._egress = EgressProxy()
                settings = self._settings
                self._sandbox = Sandbox(
                    settings.sandbox,
                    workspace=settings.workspace,
                    egress=self._egress,
                    # The rules and settings that decide the next calls stay out of reach of a rw workspace.
                    protected=settings.guard_paths(),
                )
            return self._sandbox

    def execute(self, request: SandboxRequest) -> SandboxResult:
        return self.sandbox().execute(request)

    def close(self) -> None:
        with self._lock:
            sandbox, self._sandbox = self._sandbox, None
            egress, self._egress = self._egress, None
        if sandbox is not None:
            sandbox.close()
        if egress is not None:
            egress.close()


def sandbox_tools(settings: Settings, backend: SandboxBackend | None = None) -> list[ToolSpec]:
    """The two tools, running code in ``backend`` (default: a ``DockerBackend`` the tools own and close;
    a backend passed in is its owner's to close)."""
    from agentguard.tools import ToolSpec

    runner: SandboxBackend
    close: Callable[[], None] | None = None
    if backend is None:
        docker = DockerBackend(settings)
        runner, close = docker, docker.close
    else:
        runner = backend

    def run(language: Language, code: str) -> SandboxResult:
        # The profile is the one the policy decided for this call (the guard sets the call context).
        ctx = current_call()
        profile = ctx.decision.sandbox_profile if ctx else None
        call_id = ctx.call.id if ctx else None
        owner = None
        from agentguard.tools.egress import EgressGuard, EgressOwner

        if ctx is not None and isinstance(ctx.guard, EgressGuard):
            # A network = "policy" container's connections are decided as this agent's net.connect calls.
            owner = EgressOwner(
                guard=ctx.guard,
                agent=ctx.call.agent,
                session=ctx.call.session,
                framework=ctx.call.framework,
                parent_call=call_id,
            )
        request = SandboxRequest(language, code, profile=profile, call_id=call_id, egress_owner=owner)
        return runner.execute(request)

    def python_exec(code: str) -> SandboxResult:
        """Run Python 3 code in a sandbox container; returns exit code, stdout, stderr, end reason."""
        return run("python", code)

    def shell_run(command: str) -> SandboxResult:
        """Run a POSIX shell command in a sandbox container; returns exit code, stdout, stderr, end reason."""
        return run("shell", command)

    return [
        ToolSpec("python.exec", python_exec, python_exec.__doc__ or "", sandboxed=True, close=close),
        ToolSpec("shell.run", shell_run, shell_run.__doc__ or "", sandboxed=True, close=close),
    ]
