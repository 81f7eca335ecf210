"""MCP quickstart: run `agentguard mcp-proxy` in front of mcp-server-time and talk to it with the
MCP SDK's own client, as a desktop MCP client would. Needs: pip install 'agentguard[mcp]' mcp-server-time

Run: python mcp_quickstart.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from agentguard.audit import read_records
from agentguard.settings import DEFAULT_POLICY_DIR

POLICY = """\
p, *, mcp.time.get_current_time, *, allow
p, *, mcp.time.convert_time, *, deny
"""


def agentguard_command() -> list[str]:
    found = shutil.which("agentguard")
    return [found] if found else [sys.executable, "-c", "from agentguard.cli import main; main()"]


async def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="agentguard-mcp-"))
    policy = home / "permissions"
    policy.mkdir()
    shutil.copy(DEFAULT_POLICY_DIR / "model.conf", policy / "model.conf")
    (policy / "policy.csv").write_text(POLICY)

    # What goes into claude_desktop_config.json as "command" + "args":
    command = [
        *agentguard_command(),
        "--home",
        str(home),
        "--policy",
        str(policy),
        "mcp-proxy",
        "--",
        "mcp-server-time",
    ]
    params = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        names = [t.name for t in (await client.list_tools()).tools]
        print("tools the agent sees:", names)  # convert_time is denied outright, so it is hidden
        now = await client.call_tool("get_current_time", {"timezone": "Europe/Paris"})
        print("get_current_time ->", now.structured_content)
        refused = await client.call_tool(
            "convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
        )
        print("convert_time ->", refused.content[0].text)  # type: ignore[union-attr]

    assert names == ["get_current_time"]
    assert not now.is_error
    assert refused.is_error
    records = list(read_records(home / "audit.jsonl"))
    assert {r["framework"] for r in records} == {"mcp"}
    print("audit:", *[(r["tool"], r["event"]) for r in records], sep="\n  ")


if __name__ == "__main__":
    anyio.run(main)
