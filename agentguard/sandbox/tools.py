"""``python.exec`` and ``shell.run`` as plain functions bound to a Sandbox, for registering with a Guard.

    sb = Sandbox(settings.sandbox, workspace=settings.workspace)
    for name, fn in sandbox_tools(sb).items():
        guard.register(name, fn, sandboxed=True)

The profile of each call comes from ``choose_profile`` (default: the policy's ``sandbox("name")``
annotation of the call being executed, else the settings' default profile), and the call id from
the guard's current call, so the container is labelled with it.
"""

from __future__ import annotations

from collections.abc import Callable

from agentguard.sandbox._result import SandboxResult
from agentguard.sandbox._sandbox import Sandbox
from agentguard.sandbox.profile import Language, SandboxProfile

__all__ = ["ProfileChooser", "guard_profile", "python_exec_tool", "sandbox_tools", "shell_run_tool"]

ProfileChooser = Callable[[], "str | SandboxProfile | None"]


def guard_profile() -> str | None:
    """The sandbox profile the policy chose for the guarded call running now (None: the default)."""
    from agentguard.guard import current_call

    ctx = current_call()
    return ctx.decision.sandbox_profile if ctx is not None else None


def _call_id() -> str | None:
    from agentguard.guard import current_call

    ctx = current_call()
    return ctx.call.id if ctx is not None else None


def _runner(sandbox: Sandbox, language: Language, choose: ProfileChooser) -> Callable[[str], SandboxResult]:
    def run(code: str) -> SandboxResult:
        return sandbox.run(language, code, profile=choose(), call_id=_call_id())

    return run


def python_exec_tool(
    sandbox: Sandbox, choose_profile: ProfileChooser = guard_profile
) -> Callable[..., SandboxResult]:
    run = _runner(sandbox, "python", choose_profile)

    def python_exec(code: str) -> SandboxResult:
        """Run Python 3 code in a fresh sandbox container; returns exit code, stdout, stderr, end reason."""
        return run(code)

    return python_exec


def shell_run_tool(
    sandbox: Sandbox, choose_profile: ProfileChooser = guard_profile
) -> Callable[..., SandboxResult]:
    run = _runner(sandbox, "shell", choose_profile)

    def shell_run(command: str) -> SandboxResult:
        """Run a bash command in a fresh sandbox container; returns exit code, stdout, stderr, end reason."""
        return run(command)

    return shell_run


def sandbox_tools(
    sandbox: Sandbox, choose_profile: ProfileChooser = guard_profile
) -> dict[str, Callable[..., SandboxResult]]:
    """``{"python.exec": ..., "shell.run": ...}`` bound to ``sandbox``."""
    return {
        "python.exec": python_exec_tool(sandbox, choose_profile),
        "shell.run": shell_run_tool(sandbox, choose_profile),
    }
