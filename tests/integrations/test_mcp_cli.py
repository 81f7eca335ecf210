"""``agentguard mcp-proxy`` as a desktop MCP client runs it: a subprocess on stdio, asks answered by a
person through the shared approval queue (here: the ApprovalDesk the ``approve`` command uses)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from agentguard.approval import ApprovalDesk, SqliteApprovalStore

from .conftest import audit_records, outcome

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).with_name("mcp_fixture_server.py")
RULES = """
p, *, mcp.notes.echo, *, allow
p, *, mcp.notes.write_note, *, ask
p, *, mcp.notes.delete_all, *, deny
"""


def proxy_argv(home: Path, policy: Path, *options: str) -> list[str]:
    """``agentguard mcp-proxy --name notes <options> -- <fixture server>`` as a process's argv."""
    cli = [sys.executable, "-c", "from agentguard.cli import main; main()", "--home", str(home)]
    server = ["--", sys.executable, str(FIXTURE)]
    return [*cli, "--policy", str(policy), "mcp-proxy", "--name", "notes", *options, *server]


def answer_next(home: Path, verdict: str, deadline_s: float = 60.0) -> str:
    """Wait (polling with a deadline) for one pending request and answer it as a person would."""
    store = SqliteApprovalStore(home)
    try:
        desk = ApprovalDesk(store, approver="reviewer", channel="cli")
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            pending = store.pending()
            if pending:
                request = pending[0]
                if verdict == "approve":
                    desk.approve(request.id)
                else:
                    desk.deny(request.id, verdict)
                return request.call.tool
            store.wait_for_change(store.version(), 0.5)
        raise AssertionError("no approval request arrived")
    finally:
        store.close()


async def test_cli_proxy_with_the_shared_approval_queue(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": str(REPO), "FIXTURE_LOG": str(tmp_path / "fixture.log")}
    params = StdioServerParameters(
        command=sys.executable,
        args=proxy_argv(home, make_policy(RULES), "--agent", "desktop")[1:],
        env=env,
        cwd=str(tmp_path),
    )
    results: dict[str, types.CallToolResult] = {}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        with anyio.fail_after(90):
            await client.initialize()
            names = {t.name for t in (await client.list_tools()).tools}
            assert "delete_all" not in names
            assert {"echo", "write_note"} <= names

            async def call(key: str, content: str) -> None:
                results[key] = await client.call_tool("write_note", {"path": "a.txt", "content": content})

            async with anyio.create_task_group() as tg:
                tg.start_soon(call, "approved", "first")
                assert await anyio.to_thread.run_sync(answer_next, home, "approve") == "mcp.notes.write_note"
            async with anyio.create_task_group() as tg:
                tg.start_soon(call, "denied", "second")
                await anyio.to_thread.run_sync(answer_next, home, "too risky")

    assert not results["approved"].is_error
    assert results["denied"].is_error
    block = results["denied"].content[0]
    assert isinstance(block, types.TextContent)
    assert "too risky" in block.text
    assert (tmp_path / "fixture.log").read_text().splitlines() == ["write_note a.txt first"]
    records = audit_records(home / "audit.jsonl")
    assert outcome(records) == [
        ("mcp.notes.write_note", "mcp", "execution.finished"),
        ("mcp.notes.write_note", "mcp", "approval.resolved"),
    ]
    resolved = [r for r in records if r["event"] == "approval.resolved"]
    assert [(r["status"], r["approver"], r["channel"]) for r in resolved] == [
        ("approved", "reviewer", "cli"),
        ("denied", "reviewer", "cli"),
    ]
    assert {r["agent"] for r in records if "agent" in r} == {"desktop"}


def test_cli_reports_a_server_that_cannot_start(make_policy: Callable[[str], Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from agentguard.cli import main

    result = CliRunner().invoke(
        main,
        [
            "--home",
            str(tmp_path / "h"),
            "--policy",
            str(make_policy(RULES)),
            "mcp-proxy",
            "--",
            "/nonexistent/mcp-server",
        ],
    )
    assert result.exit_code == 2
    assert "could not start the MCP server '/nonexistent/mcp-server'" in result.output


async def test_cli_proxy_over_http_until_interrupted(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    from mcp.client.streamable_http import streamable_http_client

    home = tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = proxy_argv(home, make_policy(RULES), "--http", "127.0.0.1:0")
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        url = ""
        with anyio.fail_after(60):
            while not url:
                line = await anyio.to_thread.run_sync(proc.stderr.readline)
                assert line, "the proxy exited before it said where it listens"
                if "serving " in line:
                    url = line.rsplit("serving ", 1)[1].strip()
        async with streamable_http_client(url) as (read, write), ClientSession(read, write) as client:
            with anyio.fail_after(60):
                await client.initialize()
                echoed = await client.call_tool("echo", {"text": "via http"})
                refused = await client.call_tool("delete_all", {})
        assert not echoed.is_error
        assert refused.is_error
    finally:
        proc.send_signal(signal.SIGINT)
        returncode = await anyio.to_thread.run_sync(lambda: proc.wait(60))
    assert returncode == 130  # stopped cleanly on Ctrl-C, after the audit records were written
    assert outcome(audit_records(home / "audit.jsonl")) == [
        ("mcp.notes.echo", "mcp", "execution.finished"),
        ("mcp.notes.delete_all", "mcp", "policy.decided"),
    ]


def test_cli_refuses_http_on_a_non_loopback_address(
    make_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from agentguard.cli import main

    result = CliRunner().invoke(
        main,
        [
            *("--home", str(tmp_path / "h"), "--policy", str(make_policy(RULES))),
            *("mcp-proxy", "--http", "0.0.0.0:8765", "--", sys.executable, str(FIXTURE)),
        ],
    )
    assert result.exit_code == 2
    assert "not a loopback address" in result.output
