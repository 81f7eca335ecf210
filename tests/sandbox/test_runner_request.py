"""The request ends at its declared length, not at EOF of stdin.

The header carries ``code_bytes``: the runner's child starts the program as soon as that many bytes
are in (a warm call does not wait for the engine to carry the end of stdin into the container), and
runs nothing when stdin ends before them. The child's ``read_request`` runs here in a child
interpreter (no Docker needed); the last test sends a request to a real container and never closes
its stdin.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from typing import Any

import pytest

from agentguard.sandbox import Sandbox, SandboxSettings
from agentguard.sandbox._container import PoolKey
from agentguard.sandbox._images import SHIPPED_RECIPES
from agentguard.sandbox._protocol import encode_request

RUNNER = SHIPPED_RECIPES / "runner" / "agentguard_runner.py"
_DRIVER = """
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("runner", sys.argv[1])
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)
line, code = runner.read_request()
os.write(1, json.dumps([line.decode(), code.decode()]).encode() + b"\\n")
"""
HEADER = {"protocol": 1, "output_bytes": 4096, "timeout_s": 5.0, "cwd": "/tmp"}


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
    line, code = json.loads(out)
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


def test_a_header_without_a_length_reads_to_the_end_of_stdin() -> None:
    line = json.dumps(HEADER).encode()  # an older host: the code is all that comes before EOF
    done = subprocess.run(
        [sys.executable, "-I", "-c", _DRIVER, str(RUNNER)],
        input=line + b"\nprint(1)\nprint(2)\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert json.loads(done.stdout)[1] == "print(1)\nprint(2)\n"


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
