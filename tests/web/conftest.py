"""A real console: uvicorn on a loopback port over a real SQLite store, audit log and token store;
agents in other processes ask through a real Guard; Chromium from Debian drives the pages."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from agentguard.approval import QueuedRequest, SqliteApprovalStore
from agentguard.audit import AuditLog
from agentguard.settings import load_settings
from agentguard.web import Console, ConsoleOptions, TokenStore, Webhook, builtin_schemas, create_app
from tests.approval.conftest import wait_until

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")

POLICY = """
p, *, fs.write, path(path, "{workspace}/**"), ask
p, *, fs.read, path(path, "{workspace}/**"), allow
p, *, shell.run, *, ask
"""


@dataclass
class Served:
    """A running console and what a test needs to drive it."""

    url: str
    port: int
    home: Path
    workspace: Path
    policy_dir: Path
    store: SqliteApprovalStore
    tokens: TokenStore
    token: str
    audit_path: Path

    def pending(self) -> list[QueuedRequest]:
        return self.store.pending()

    def wait_pending(self, n: int = 1) -> list[QueuedRequest]:
        wait_until(lambda: len(self.store.pending()) >= n, timeout=30, what=f"{n} pending request(s)")
        return self.store.pending()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start a console; ``serve(webhooks=...)``. Stopped (and everything closed) after the test."""
    started: list[tuple[uvicorn.Server, threading.Thread, Served, AuditLog]] = []

    def start(*, webhooks: tuple[Webhook, ...] = ()) -> Served:
        home, workspace, policy_dir = tmp_path / "home", tmp_path / "ws", tmp_path / "policy"
        workspace.mkdir()
        policy_dir.mkdir()
        shutil.copyfile(REPO / "permissions" / "model.conf", policy_dir / "model.conf")
        (policy_dir / "policy.csv").write_text(POLICY.strip() + "\n", encoding="utf-8")
        settings = load_settings(overrides={"home": home, "workspace": workspace, "policy_dir": policy_dir})
        audit = AuditLog(settings.audit_path)
        store = SqliteApprovalStore(home, audit=audit, poll_interval=0.02)
        tokens = TokenStore(home)
        _, token = tokens.create("alice")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        options = ConsoleOptions(
            public_url=url,
            webhooks=webhooks,
            audit_path=settings.audit_path,
            workspace=settings.workspace,
            profiles=dict(settings.sandbox.profiles),
            default_profile=settings.sandbox.default_profile,
        )
        console = Console(store=store, tokens=tokens, options=options, schemas=builtin_schemas(settings))
        config = uvicorn.Config(
            create_app(console), host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_until(lambda: server.started, timeout=20, what="the console to start")
        served = Served(url, port, home, settings.workspace, policy_dir, store, tokens, token,
                        settings.audit_path)  # fmt: skip
        started.append((server, thread, served, audit))
        return served

    yield start
    for server, thread, served, audit in started:
        server.should_exit = True
        thread.join(timeout=20)
        served.tokens.close()
        served.store.close()
        audit.close()


_AGENT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from agentguard import Guard, load_settings
    from agentguard.approval import queue_approver_from_settings
    settings = load_settings(overrides={{"home": Path({home!r}), "workspace": Path({workspace!r}),
                                        "policy_dir": Path({policy!r})}})
    guard = Guard(approver=queue_approver_from_settings(settings), settings=settings, agent={agent!r})
    guard.register_builtins()
    try:
        result = guard.call({tool!r}, json.loads({arguments!r}))
        print(json.dumps({{"ok": True, "result": result}}), flush=True)
    except Exception as exc:
        print(json.dumps({{"ok": False, "error": type(exc).__name__, "message": str(exc)}}), flush=True)
    """
)


class Agent:
    """A guarded call waiting in another process; :meth:`outcome` is what that call got."""

    def __init__(self, served: Served, tool: str, arguments: dict[str, Any], agent: str = "coder") -> None:
        code = _AGENT.format(
            repo=str(REPO),
            home=str(served.home),
            workspace=str(served.workspace),
            policy=str(served.policy_dir),
            agent=agent,
            tool=tool,
            arguments=json.dumps(arguments),
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO
        )

    def outcome(self) -> dict[str, Any]:
        try:
            out, _ = self.proc.communicate(timeout=60)
        finally:
            self.proc.kill()
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result


@pytest.fixture
def agents() -> Iterator[Callable[..., Agent]]:
    spawned: list[Agent] = []

    def spawn(served: Served, tool: str, arguments: dict[str, Any], agent: str = "coder") -> Agent:
        a = Agent(served, tool, arguments, agent)
        spawned.append(a)
        return a

    yield spawn
    for a in spawned:
        a.proc.kill()
        a.proc.wait()
