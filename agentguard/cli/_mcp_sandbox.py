"""``mcp-proxy --sandbox``: the server runs in a sandbox container; its connections go through the policy.

The proxy process keeps everything that decides: the guard, and (for a ``network = "policy"``
profile) the egress proxy whose socket is mounted into the server's container. The container
itself is started by a small launcher process (``agentguard.sandbox._mcp_launch``) that the MCP
client machinery runs like any stdio server, so a crashed server is restarted the same way.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

from agentguard.errors import ConfigError
from agentguard.settings import Settings

if TYPE_CHECKING:
    from agentguard.guard import Guard
    from agentguard.sandbox_api import EgressEndpoint
    from agentguard.tools.egress import EgressProxy

__all__ = ["SandboxedServer"]


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


class SandboxedServer:
    """What runs the server contained: the launcher's argv and, for network = "policy", the egress proxy."""

    def __init__(
        self, settings: Settings, guard: Guard, profile_name: str, image: str | None, command: list[str]
    ) -> None:
        from agentguard.integrations.mcp._paths import ContainerPaths
        from agentguard.sandbox._container import PoolKey, check_workspace, open_egress
        from agentguard.sandbox._engine import image_name
        from agentguard.sandbox._mcp_launch import launch_argv
        from agentguard.sandbox._protect import WORKSPACE_TARGET
        from agentguard.tools.egress import EgressProxy, net_connect

        sandbox = settings.sandbox
        try:
            profile = sandbox.profiles[profile_name]
        except KeyError:
            known = ", ".join(sorted(sandbox.profiles))
            raise ConfigError(
                f"unknown sandbox profile {profile_name!r}; defined in [sandbox.profiles]: {known}",
                profile=profile_name,
            ) from None
        self.profile_name = profile_name
        self.image = image or image_name(sandbox.image_prefix, "python")
        self.guard = guard
        key = PoolKey("python", profile_name, profile)
        workspace = settings.workspace if profile.workspace != "none" else None
        check_workspace(workspace, profile.workspace)
        # The server sees the workspace as /workspace: its calls are decided on the host's names.
        self.container_paths = (
            ContainerPaths(Path(workspace).resolve(), WORKSPACE_TARGET) if workspace is not None else None
        )
        self._proxy: EgressProxy | None = None
        self._endpoint: EgressEndpoint | None = None
        if profile.network == "policy":
            # An MCP client ends the proxy with SIGTERM: unwind like Ctrl-C so the socket goes too.
            signal.signal(signal.SIGTERM, _interrupt)
            self._proxy = EgressProxy()
            self._endpoint = open_egress(self._proxy, key, workspace)
            if "net.connect" not in guard.tools:
                guard.register("net.connect", net_connect, description=net_connect.__doc__ or "")
        self.argv = launch_argv(
            image=self.image,
            profile_name=profile_name,
            profile=profile,
            command=command,
            workspace=workspace,
            protected=settings.guard_paths(),
            egress_dir=self._endpoint.directory if self._endpoint is not None else None,
            docker_host=sandbox.docker_host,
        )

    def serve_for(self, agent: str, session: str | None) -> None:
        """Decide the server's connections as ``agent``'s net.connect calls in ``session``."""
        if self._endpoint is None:
            return
        from agentguard.tools.egress import EgressOwner

        self._endpoint.attach(EgressOwner(guard=self.guard, agent=agent, session=session, framework="mcp"))

    def describe(self) -> str:
        return f"{self.profile_name!r} ({self.image})"

    def close(self) -> None:
        if self._endpoint is not None:
            self._endpoint.close()
        if self._proxy is not None:
            self._proxy.close()
