"""How an MCP server's tools are named in policy: ``mcp.<server>.<tool>``.

The ``mcp.`` namespace keeps a server's tools apart from agentguard's built-ins (a server called
``fs`` cannot borrow the rules written for ``fs.read``), and ``mcp.*`` matches every MCP tool.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from agentguard.models import canonical_tool_name

__all__ = ["policy_tool_name", "server_name_from_command"]

_RUNNERS = frozenset(
    {
        "uvx",
        "npx",
        "pnpx",
        "bunx",
        "uv",
        "run",
        "node",
        "deno",
        "bun",
        "pipx",
        "docker",
        "podman",
        "exec",
        "env",
    }
)
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?(\.exe)?$")
_AFFIXES = (
    ("mcp-server-", ""),
    ("server-", ""),
    ("mcp-", ""),
    ("", "-mcp-server"),
    ("", "-server"),
    ("", "-mcp"),
)
_NAME_OK = re.compile(r"[^a-z0-9_-]+")


def server_name_from_command(command: Sequence[str]) -> str:
    """A short server name for ``command``: ``uvx mcp-server-git`` gives ``git``.

    Runner programs (``uvx``, ``npx``, ``python -m``, ``node``...) and flags are skipped; the first
    remaining word is reduced to its base name without scope, version, extension and ``mcp``/
    ``server`` affixes.
    """
    words = list(command)
    chosen = None
    i = 0
    while i < len(words):
        word = words[i]
        base = os.path.basename(word).lower()
        if _PYTHON.match(base):
            if i + 2 < len(words) and words[i + 1] == "-m":
                chosen = words[i + 2]
                break
            i += 1
            continue
        if word.startswith("-") or base in _RUNNERS:
            i += 1
            continue
        chosen = word
        break
    if chosen is None:
        return "server"
    name = chosen.rsplit("/", 1)[-1] if not chosen.startswith("@") else chosen.split("/", 1)[-1]
    name = os.path.basename(name)
    name = re.sub(r"@[^@]*$", "", name) if "@" in name[1:] else name
    name = re.sub(r"\.(py|js|mjs|cjs|ts|exe)$", "", name.lower()).replace("_", "-")
    for prefix, suffix in _AFFIXES:
        if prefix and name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix) :]
        if suffix and name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    name = _NAME_OK.sub("-", name).strip("-")
    return name or "server"


def policy_tool_name(server: str, tool: str) -> str:
    """``mcp.<server>.<tool>`` in canonical form; ``ValueError`` when the tool's name cannot be one."""
    return canonical_tool_name(f"mcp.{server}.{tool}")
