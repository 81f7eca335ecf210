"""A newcomer's first command: `agentguard --home "$(mktemp -d)" demo` runs everything, sandbox included.

The images are looked up by their prefix, so a fresh prefix is a machine that has none of the
project's images (and a fresh home has no cached root filesystem): the demo must build them itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

pytestmark = [pytest.mark.docker]

# (tool, how the call ended) for every step of the demo script, in order.
EXPECTED = [
    ("fs.list", "execution.finished"),
    ("fs.read", "execution.finished"),
    ("fs.read", "denied"),  # climbs out of the workspace
    ("fs.read", "denied"),  # symlink pointing outside
    ("fs.write", "execution.finished"),  # asked, approved by the demo approver
    ("fs.write", "denied"),  # outside the workspace
    ("shell.run", "execution.finished"),  # ls -la, in the sandbox
    ("shell.run", "approval.denied"),  # a download hidden behind ls
    ("shell.run", "denied"),  # a download piped into a shell: cannot tell what runs
    ("shell.run", "denied"),  # rm -rf ~
    ("python.exec", "execution.finished"),  # print(6 * 7), in the sandbox
    ("http.get", "denied"),  # an API key in the URL
    ("fs.delete", "call.rejected"),
    ("fs.read", "call.rejected"),
]


def _outcomes(audit: Path) -> list[tuple[str, str, dict[str, object]]]:
    """(tool, final outcome, final record) per call, in the order the calls were received."""
    order: list[str] = []
    last: dict[str, dict[str, object]] = {}
    for line in audit.read_bytes().splitlines():
        rec = orjson.loads(line)
        cid = rec.get("call_id")
        if not cid:
            continue
        if cid not in last:
            order.append(cid)
        last[cid] = rec
    out = []
    for cid in order:
        rec = last[cid]
        event = str(rec["event"])
        if event == "policy.decided" and rec.get("effect") == "deny":
            event = "denied"
        elif event == "approval.resolved" and rec.get("status") == "denied":
            event = "approval.denied"
        out.append((str(rec["tool"]), event, rec))
    return out


def _demo(cwd: Path, home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "agentguard.cli", "--home", str(home), "demo", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    return output


@pytest.fixture
def fresh_prefix(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A working directory whose agentguard.toml names an image prefix no image in the engine has."""
    docker = pytest.importorskip("docker")
    prefix = f"agentguard-firstrun-{uuid.uuid4().hex[:8]}"
    (tmp_path / "agentguard.toml").write_text(f'[sandbox]\nimage_prefix = "{prefix}"\n')
    client = docker.from_env()
    assert not [t for i in client.images.list() for t in i.tags if t.startswith(prefix)]
    try:
        yield tmp_path, prefix
    finally:
        for image in client.images.list():
            if any(t.startswith(prefix) for t in image.tags):
                for tag in image.tags:
                    client.images.remove(tag, force=True)
        client.close()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_first_command_builds_the_images_and_runs_every_step(
    fresh_prefix: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    cwd, _ = fresh_prefix
    home = tmp_path_factory.mktemp("home")
    output = _demo(cwd, home)
    assert "building the sandbox images" in output
    assert "no sandbox for this run" not in output
    outcomes = _outcomes(home / "audit.jsonl")
    assert [(tool, how) for tool, how, _ in outcomes] == EXPECTED, output
    python_run = outcomes[10][2]
    assert "42" in str(python_run.get("result")), python_run

    # Later runs (a new home, as the README's command makes) find the images and build nothing.
    again = tmp_path_factory.mktemp("home2")
    output = _demo(cwd, again)
    assert "building the sandbox images" not in output
    assert [(tool, how) for tool, how, _ in _outcomes(again / "audit.jsonl")] == EXPECTED


def test_no_build_says_what_is_missing_and_runs_the_rest(
    fresh_prefix: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    cwd, _ = fresh_prefix
    home = tmp_path_factory.mktemp("home")
    output = _demo(cwd, home, "--no-build")
    assert "not built (--no-build)" in output
    assert "agentguard sandbox build" in output
    outcomes = [(tool, how) for tool, how, _ in _outcomes(home / "audit.jsonl")]
    sandboxed = {6, 10}
    for i, (want, got) in enumerate(zip(EXPECTED, outcomes, strict=True)):
        if i in sandboxed:
            assert got == (want[0], "execution.failed")
        else:
            assert got == want


def test_without_a_docker_engine_the_demo_says_so_and_runs_the_rest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    output = _demo(tmp_path, home, env={"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"})
    assert "no sandbox for this run" in output
    assert "Docker engine unreachable" in output
    outcomes = [(tool, how) for tool, how, _ in _outcomes(home / "audit.jsonl")]
    assert outcomes[0] == ("fs.list", "execution.finished")
    assert outcomes[6] == ("shell.run", "execution.failed")
    assert outcomes[11] == ("http.get", "denied")
