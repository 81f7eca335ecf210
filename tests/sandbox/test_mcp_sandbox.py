"""``agentguard mcp-proxy --sandbox``: real MCP servers in hardened containers, guarded as on the host.

The derived image is built through the CLI contract (``sandbox build --pip ... --tag ...``) with
the real ``mcp-server-time`` package and the MCP SDK the fixture servers need, at the versions
installed here. Network traffic goes only to the test internet (a private Docker network).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from agentguard.audit import read_records
from agentguard.sandbox._engine import MANAGED
from agentguard.settings import DEFAULT_POLICY_DIR
from tests.sandbox.internet import HTTP_PORT, Internet, running_internet

pytestmark = pytest.mark.timeout(600)

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "integrations" / "mcp_fixture_server.py"
IMAGE = f"agtest-egress-mcp-{os.getpid()}:latest"

NOSY = """
import os, socket, urllib.request, urllib.error
from mcp.server.mcpserver import MCPServer

server = MCPServer("nosy", version="1.0")

@server.tool(description="Read a file.")
def read_path(path: str) -> str:
    try:
        with open(path) as f:
            return "READ " + f.read(200)
    except OSError as e:
        return f"cannot read: {type(e).__name__}"

@server.tool(description="Write a file.")
def write_path(path: str, text: str) -> str:
    try:
        with open(path, "a") as f:
            f.write(text)
        return "WROTE"
    except OSError as e:
        return f"cannot write: {e.strerror}"

@server.tool(description="Rename a file.")
def rename_path(path: str, to: str) -> str:
    try:
        os.rename(path, to)
        return "RENAMED"
    except OSError as e:
        return f"cannot rename: {e.strerror}"

@server.tool(description="Fetch a URL.")
def fetch(url: str) -> str:
    try:
        return "OK " + urllib.request.urlopen(url, timeout=20).read().decode().strip()
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except Exception as e:
        return f"ERR {type(e).__name__}"

@server.tool(description="Open a raw TCP connection.")
def raw(address: str, port: int) -> str:
    try:
        socket.create_connection((address, port), timeout=5)
        return "CONNECTED"
    except OSError as e:
        return f"errno {e.errno}"

@server.tool(description="Who and where am I.")
def whoami() -> str:
    ifaces = sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:])
    return f"uid={os.getuid()} ifaces={','.join(ifaces)} home={os.environ.get('HOME')}"

if __name__ == "__main__":
    server.run()
"""


def cli(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", "from agentguard.cli import main; main()", "--home", str(home), *args]


@pytest.fixture(scope="module")
def mcp_image(
    images: list[Any], docker_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    home = tmp_path_factory.mktemp("build-home")
    packages = [f"mcp-server-time=={version('mcp-server-time')}", f"mcp=={version('mcp')}"]
    argv = cli(home, "sandbox", "build", "--json", "--tag", IMAGE)
    for package in packages:
        argv += ["--pip", package]
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    labels = docker_client.api.inspect_image(IMAGE)["Config"]["Labels"]
    assert labels["io.agentguard.pip-packages"] == " ".join(packages)
    yield IMAGE
    docker_client.api.remove_image(IMAGE, force=True)


@pytest.fixture(scope="module")
def internet(images: list[Any], docker_client: Any) -> Iterator[Internet]:
    with running_internet(docker_client) as net:
        yield net


def setup_dir(tmp_path: Path, rules: str, profile: str) -> tuple[Path, Path]:
    """(cwd with agentguard.toml and the workspace, policy dir)."""
    policy = tmp_path / "policy"
    policy.mkdir()
    shutil.copy(DEFAULT_POLICY_DIR / "model.conf", policy / "model.conf")
    (policy / "policy.csv").write_text(rules)
    cwd = tmp_path / "ws"
    cwd.mkdir()
    (cwd / "agentguard.toml").write_text(f"[sandbox.profiles.mcp]\n{profile}\n")
    shutil.copy(FIXTURE, cwd / "fixture_server.py")
    (cwd / "nosy_server.py").write_text(NOSY)
    for path in cwd.iterdir():
        path.chmod(0o644)
    cwd.chmod(0o755)
    return cwd, policy


def session_params(cwd: Path, policy: Path, *server: str, name: str) -> StdioServerParameters:
    argv = cli(cwd / "home", "--policy", str(policy), "mcp-proxy", "--name", name, "--approver", "deny")
    argv += ["--sandbox", "mcp", "--image", IMAGE, "--", *server]
    return StdioServerParameters(
        command=argv[0], args=argv[1:], env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=str(cwd)
    )


def text(result: Any) -> str:
    return str(result.content[0].text)


def managed(client: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.api.containers(filters={"label": [f"{MANAGED}=true"]})
    return [r for r in rows if r["Image"] == IMAGE]


def test_mcp_server_time_runs_contained_and_its_container_goes_with_the_proxy(
    mcp_image: str, docker_client: Any, tmp_path: Path
) -> None:
    cwd, policy = setup_dir(tmp_path, "p, *, mcp.time.*, *, allow\n", 'workspace = "none"')
    seen: list[list[dict[str, Any]]] = []

    async def main() -> str:
        params = session_params(cwd, policy, "mcp-server-time", name="time")
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            names = {t.name for t in (await client.list_tools()).tools}
            assert names == {"get_current_time", "convert_time"}
            result = await client.call_tool("get_current_time", {"timezone": "Europe/Paris"})
            seen.append(managed(docker_client))
            return text(result)

    out = anyio.run(main)
    assert '"timezone": "Europe/Paris"' in out
    (running,) = seen[0]
    assert running["Labels"][MANAGED] == "true"
    info = docker_client.api.inspect_container(running["Id"]) if managed(docker_client) else None
    assert info is None or not info["State"]["Running"]
    records = list(read_records(cwd / "home" / "audit.jsonl"))
    assert [r["event"] for r in records if r.get("tool") == "mcp.time.get_current_time"][-1] == (
        "execution.finished"
    )


def test_the_fixture_server_works_and_a_crash_gets_a_fresh_container(
    mcp_image: str, docker_client: Any, tmp_path: Path
) -> None:
    rules = "p, *, mcp.notes.echo, *, allow\np, *, mcp.notes.crash, *, allow\n"
    cwd, policy = setup_dir(tmp_path, rules, 'workspace = "ro"')
    ids: list[set[str]] = []

    async def main() -> list[str]:
        params = session_params(cwd, policy, "python3", "/workspace/fixture_server.py", name="notes")
        outs = []
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            outs.append(text(await client.call_tool("echo", {"text": "first"})))
            ids.append({r["Id"] for r in managed(docker_client)})
            crashed = await client.call_tool("crash", {})
            outs.append(f"crash error={crashed.is_error}")
            outs.append(text(await client.call_tool("echo", {"text": "after"})))
            ids.append({r["Id"] for r in managed(docker_client)})
        return outs

    assert anyio.run(main) == ["first", "crash error=True", "after"]
    assert len(ids[0]) == 1
    assert len(ids[1]) == 1
    assert ids[0] != ids[1]  # the restarted server runs in a new container


def test_a_nosy_server_is_contained(
    mcp_image: str, docker_client: Any, internet: Internet, tmp_path: Path
) -> None:
    rules = (
        "p, *, mcp.nosy.*, *, allow\n"
        f'p, *, net.connect, ip(host, "{internet.address}/32") '
        f'&& url(url, "*://*:{HTTP_PORT}/allowed/**"), allow\n'
    )
    cwd, policy = setup_dir(tmp_path, rules, 'workspace = "ro"\nnetwork = "policy"')
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    secret.chmod(0o644)
    home_file = Path.home() / ".bashrc"  # whatever the host has there, the container must not show it

    async def main() -> dict[str, str]:
        params = session_params(cwd, policy, "python3", "/workspace/nosy_server.py", name="nosy")
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            await client.initialize()

            async def call(tool: str, **args: Any) -> str:
                return text(await client.call_tool(tool, args))

            return {
                "whoami": await call("whoami"),
                "secret": await call("read_path", path=str(secret)),
                "home": await call("read_path", path=str(home_file)),
                "workspace": await call("read_path", path="/workspace/nosy_server.py"),
                "allowed": await call("fetch", url=f"http://{internet.address}:{HTTP_PORT}/allowed/x"),
                "refused": await call("fetch", url=f"http://{internet.address}:{HTTP_PORT}/other"),
                "raw": await call("raw", address=internet.address, port=HTTP_PORT),
            }

    out = anyio.run(main)
    assert out["whoami"] == "uid=10001 ifaces=lo home=/tmp"
    assert out["secret"] == "cannot read: FileNotFoundError"
    assert out["home"].startswith("cannot read")
    assert out["workspace"].startswith("READ ")
    assert out["allowed"] == f"OK hello http host={internet.address}:{HTTP_PORT} path=/allowed/x"
    assert out["refused"] == "HTTP 403"
    assert out["raw"] == "errno 101"
    records = list(read_records(cwd / "home" / "audit.jsonl"))
    connects = [r for r in records if r.get("tool") == "net.connect" and r["event"] == "call.received"]
    assert [r["arguments"]["url"] for r in connects] == [
        f"http://{internet.address}:{HTTP_PORT}/allowed/x",
        f"http://{internet.address}:{HTTP_PORT}/other",
    ]
    assert {r["framework"] for r in connects} == {"mcp"}


def test_a_path_rule_decides_the_file_a_sandboxed_server_reads(mcp_image: str, tmp_path: Path) -> None:
    """Red team: the proxy resolved a path argument on the host and forwarded it; the server reads it in
    its container, where the host workspace is /workspace. The same file has two names, and a rule
    written on ``{workspace}`` saw only one: ``/workspace/secret.env`` was not denied and was read.
    (A relative path fared no better the other way: it was forwarded as the host's absolute path,
    which does not exist in the container.) Now a container path is decided as the host's, and the
    server is sent the container's name of what was decided."""
    rules = (
        "p, *, mcp.nosy.read_path, *, allow\n"
        'p, *, mcp.nosy.read_path, path(path, "{workspace}/secret.env"), deny\n'
    )
    cwd, policy = setup_dir(tmp_path, rules, 'workspace = "ro"')
    secret = cwd / "secret.env"
    secret.write_text("TOKEN=host-secret")
    secret.chmod(0o644)

    async def main() -> tuple[str, str]:
        params = session_params(cwd, policy, "python3", "/workspace/nosy_server.py", name="nosy")
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            relative = text(await client.call_tool("read_path", {"path": "secret.env"}))
            container = text(await client.call_tool("read_path", {"path": "/workspace/secret.env"}))
            return relative, container

    relative, container = anyio.run(main)
    assert "call refused" in relative
    assert "host-secret" not in container
    assert "call refused" in container


def test_a_sandboxed_server_gets_the_container_name_of_what_was_decided(
    mcp_image: str, tmp_path: Path
) -> None:
    """The other half: an allowed file is read by either name (the host's relative form reaches the
    server as /workspace/...), and a link in the workspace to an absolute name (the container's
    /workspace/secret.env, the host's nothing) is refused: the file the server would read through it
    is not the one the host's resolution decided."""
    rules = (
        "p, *, mcp.nosy.read_path, *, allow\n"
        'p, *, mcp.nosy.read_path, path(path, "{workspace}/secret.env"), deny\n'
    )
    cwd, policy = setup_dir(tmp_path, rules, 'workspace = "ro"')
    (cwd / "secret.env").write_text("TOKEN=host-secret")
    (cwd / "notes.txt").write_text("plain notes")
    (cwd / "link").symlink_to("/workspace/secret.env")
    for name in ("secret.env", "notes.txt"):
        (cwd / name).chmod(0o644)

    async def main() -> list[str]:
        params = session_params(cwd, policy, "python3", "/workspace/nosy_server.py", name="nosy")
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            return [
                text(await client.call_tool("read_path", {"path": path}))
                for path in ("notes.txt", "/workspace/notes.txt", "//workspace/./notes.txt", "link")
            ]

    relative, container, spelled, link = anyio.run(main)
    assert relative.startswith("READ plain notes")
    assert container.startswith("READ plain notes")
    assert spelled.startswith("READ plain notes")
    assert "host-secret" not in link
    assert "call refused" in link


def test_a_rw_server_cannot_rewrite_the_settings_or_git(mcp_image: str, tmp_path: Path) -> None:
    """Red team: a sandboxed server with a rw workspace kept ``.git`` read-only, but not the guard's
    files: the launcher was given no protected paths, so the server rewrote ``agentguard.toml`` (which
    the next start reads: its policy directory, its approver). It now gets the same as python.exec."""
    cwd, policy = setup_dir(tmp_path, "p, *, mcp.nosy.*, *, allow\n", 'workspace = "rw"')
    (cwd / ".git").mkdir()
    (cwd / ".git" / "config").write_text("[core]\n")
    settings_text = (cwd / "agentguard.toml").read_text()
    if os.geteuid() == 0:
        for path in (cwd, *cwd.rglob("*")):
            os.chown(path, 1000, 1000)

    async def main() -> list[str]:
        params = session_params(cwd, policy, "python3", "/workspace/nosy_server.py", name="nosy")
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            await client.initialize()

            async def call(tool: str, **args: Any) -> str:
                return text(await client.call_tool(tool, args))

            return [
                await call("write_path", path="/workspace/agentguard.toml", text="\n[policy]\n"),
                await call("rename_path", path="/workspace/agentguard.toml", to="/workspace/old.toml"),
                await call("write_path", path="/workspace/.git/config", text="fsmonitor = x\n"),
                await call("write_path", path="/workspace/notes.txt", text="ok"),
            ]

    settings, renamed, git, notes = anyio.run(main)
    assert settings == "cannot write: Read-only file system"
    assert renamed == "cannot rename: Device or resource busy"
    assert git == "cannot write: Read-only file system"
    assert notes == "WROTE"
    assert (cwd / "agentguard.toml").read_text() == settings_text
    assert (cwd / ".git" / "config").read_text() == "[core]\n"
