"""The built-in tools, with canonical names and argument names the shipped policy is written for.

``fs.read(path)``, ``fs.write(path, content)``, ``fs.list(path)``, ``shell.run(command)``,
``python.exec(code)``, ``http.get(url)``, and ``net.connect`` (a connection out of a ``network = "policy"``
sandbox, opened only by the egress proxy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentguard.sandbox_api import SandboxBackend
from agentguard.settings import Settings

__all__ = ["ToolSpec", "builtin_tools"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    fn: Callable[..., Any]
    description: str
    sandboxed: bool = False
    close: Callable[[], None] | None = None


def builtin_tools(settings: Settings, *, sandbox: SandboxBackend | None = None) -> list[ToolSpec]:
    """The built-in tools bound to ``settings`` (workspace root, sandbox profiles); code runs in
    ``sandbox`` (default: the Docker sandbox, started on first use)."""
    from agentguard.tools.egress import net_connect
    from agentguard.tools.execution import sandbox_tools
    from agentguard.tools.filesystem import Workspace
    from agentguard.tools.web import http_get

    ws = Workspace(settings.workspace)
    return [
        ToolSpec("fs.read", ws.read, "Read a UTF-8 text file inside the workspace."),
        ToolSpec("fs.write", ws.write, "Write a UTF-8 text file inside the workspace."),
        ToolSpec("fs.list", ws.list, "List a directory inside the workspace."),
        ToolSpec("http.get", http_get, "Fetch a URL over HTTP(S) (size- and time-limited)."),
        *sandbox_tools(settings, sandbox),
        ToolSpec("net.connect", net_connect, net_connect.__doc__ or ""),
    ]
