"""The request ends at its declared length, not at EOF of stdin.

The header carries ``code_bytes``: the runner's child starts the program as soon as that many bytes
are in (a warm call does not wait for the engine to carry the end of stdin into the container), and
runs nothing when stdin ends before them or when the header gives no length. The child's
``read_request`` runs here in a child interpreter (no Docker needed); one test sends a request to a
real container and never closes its stdin; the host refuses an image whose runner predates this
(protocol 1: it ran the prefix of a request cut short).
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from typing import Any

import pytest

from agentguard.errors import SandboxError
from agentguard.sandbox import Sandbox, SandboxSettings
from agentguard.sandbox._container import PoolKey
from agentguard.sandbox._engine import LANGUAGE as LANGUAGE_LABEL
from agentguard.sandbox._engine import PROTOCOL, RUNNER_PROTOCOL
from agentguard.sandbox._images import SHIPPED_RECIPES
from agentguard.sandbox._protocol import encode_request

RUNNER = SHIPPED_RECIPES / "runner" / "agentguard_runner.py"
_DRIVER = """
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("runner", sys.argv[1])
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)
line, code = runner.read_request()
error = runner.parse_header(line)[1]
os.write(1, json.dumps([line.decode(), None if code is None else code.decode(), error]).encode() + b"\\n")
"""
HEADER = {"protocol": PROTOCOL, "output_bytes": 4096, "timeout_s": 5.0, "cwd": "/tmp"}


def _reader() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-I", "-c", _DRIVER, str(RUNNER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _line_within(proc: subprocess.Popen[bytes], timeout_s: float) -> bytes:
    """What the reader printed, read while its stdin is still open (b"" if nothing came in time)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    return proc.stdout.readline() if ready else b""


def test_the_code_is_taken_at_its_length_while_stdin_stays_open() -> None:
    proc = _reader()
    assert proc.stdin is not None
    try:
        proc.stdin.write(encode_request(HEADER, b"print(6*7)\n") + b"more bytes the host never sent")
        proc.stdin.flush()
        out = _line_within(proc, 30)
    finally:
        proc.kill()
        proc.wait()
    assert out, "the request was complete but the reader waited for stdin to end"
    line, code, error = json.loads(out)
    assert error is None
    assert json.loads(line)["code_bytes"] == 11
    assert code == "print(6*7)\n"  # exactly the declared bytes


def test_a_request_cut_short_runs_nothing() -> None:
    whole = encode_request(HEADER, b"touch /workspace/prefix-ran\necho the rest")
    for cut in (len(whole) - 5, whole.index(b"\n") + 1, 10):
        done = subprocess.run(
            [sys.executable, "-I", "-c", _DRIVER, str(RUNNER)],
            input=whole[:cut],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert (done.returncode, done.stdout) == (0, b""), cut  # exited before the code was read


def test_a_header_without_a_usable_length_runs_nothing() -> None:
    # Every host of this protocol sends code_bytes: a header without it (or with no length the code
    # could have) is refused at once, never run on whatever came before EOF.
    for length in ({}, {"code_bytes": -1}, {"code_bytes": True}, {"code_bytes": 2.0}, {"code_bytes": "2"}):
        proc = _reader()
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps({**HEADER, **length}).encode() + b"\nprint(1)\nprint(2)\n")
            proc.stdin.flush()  # stdin stays open: the refusal does not wait for its end
            out = _line_within(proc, 30)
        finally:
            proc.kill()
            proc.wait()
        assert out, length
        _, code, error = json.loads(out)
        assert (code, error) == (None, "unreadable request header"), length


@pytest.mark.docker
def test_a_container_runs_a_request_whose_stdin_never_ends(images: object, docker_client: Any) -> None:
    with Sandbox(SandboxSettings(pool_size=0), client=docker_client, reap_orphans=False) as sb:
        name, profile = sb.resolve_profile(None)
        live = sb._spawn(PoolKey("python", name, profile), "no-eof")
        try:
            live.sock.sendall(encode_request(HEADER, b"print(6*7)\n"))  # no shutdown(SHUT_WR)
            deadline = time.monotonic() + 30
            while live.parser.report is None and time.monotonic() < deadline:
                live.sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    data = live.sock.recv(65536)
                except TimeoutError:
                    break
                if not data:
                    break
                live.parser.feed(data)
        finally:
            sb._kill_now(live)
    assert live.parser.report is not None, "the runner waited for stdin to end"
    assert live.parser.report["reason"] == "exited"
    assert bytes(live.parser.stdout) == b"42\n"


class _ImageOnlyApi:
    """An engine with one image, labelled ``labels``; anything else a run would ask for fails the test."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels

    def inspect_image(self, name: str) -> dict[str, Any]:
        return {"Id": "sha256:" + "0" * 64, "Config": {"Labels": self.labels}}

    def __getattr__(self, name: str) -> Any:
        if name == "api":
            raise AttributeError(name)  # this object is the low-level API itself
        raise AssertionError(f"the host used an image it should have refused ({name})")


def test_an_image_whose_runner_predates_code_bytes_is_refused() -> None:
    # Protocol 1 runners read the code to EOF: a host dying part-way through the send (its socket
    # closes) made them run the prefix. This host relies on the runner refusing a short read.
    api = _ImageOnlyApi({RUNNER_PROTOCOL: "1", LANGUAGE_LABEL: "shell"})
    with (
        Sandbox(SandboxSettings(pool_size=0), client=api, reap_orphans=False) as sb,
        pytest.raises(SandboxError, match="another agentguard version"),
    ):
        sb.run("shell", "touch /workspace/prefix-ran")
    assert PROTOCOL != 1
