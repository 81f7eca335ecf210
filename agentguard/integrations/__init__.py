"""Adapters that put agentguard in front of tools the user did not write for it.

Each adapter is an optional extra and lives in its own subpackage:

- ``agentguard.integrations.mcp`` (``pip install 'agentguard[mcp]'``): a stdio MCP proxy
  (``agentguard mcp-proxy -- <server command>``).
- ``agentguard.integrations.langchain`` (``pip install 'agentguard[langchain]'``): ``guard_tools``.
- ``agentguard.integrations.openai_agents`` (``pip install 'agentguard[openai-agents]'``):
  ``guard_function_tools``.

Importing one without its extra raises :class:`MissingExtra`, which names the pip command.
"""

from agentguard.integrations._arguments import MAX_ARGUMENT_BYTES, json_schema_model
from agentguard.integrations._extras import MissingExtra

__all__ = ["MAX_ARGUMENT_BYTES", "MissingExtra", "json_schema_model"]
