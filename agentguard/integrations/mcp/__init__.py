"""The MCP proxy: put the guard in front of any MCP server (``pip install 'agentguard[mcp]'``).

Run it as ``agentguard mcp-proxy -- <server command ...>``, or embed :class:`McpProxy`. Tools are
named ``mcp.<server>.<tool>`` in policy, the server's requests of the client
``mcp-client.<server>.<kind>``; see ``docs/integrations/mcp.md``.
"""

from agentguard.integrations._extras import require

require("mcp", "mcp", "MCP")

from agentguard.integrations.mcp._back_channel import back_channel_tool_name  # noqa: E402
from agentguard.integrations.mcp._naming import policy_tool_name, server_name_from_command  # noqa: E402
from agentguard.integrations.mcp._proxy import (  # noqa: E402
    FRAMEWORK,
    McpProxy,
    UpstreamUnavailable,
    is_unconditional_deny,
)

__all__ = [
    "FRAMEWORK",
    "McpProxy",
    "UpstreamUnavailable",
    "back_channel_tool_name",
    "is_unconditional_deny",
    "policy_tool_name",
    "server_name_from_command",
]
