"""What the program inherits from the child the runner forks before it says ready.

That child reads the request from the engine's stream itself, hands the header to the runner over a
pipe and becomes the program (after the warm-up compile, in a Python image). Reviewed with a warm
container, the path a call usually takes: the program holds no descriptor but /dev/null and its
two output pipes (not the request stream, the header pipe, the runner's wake-up pipe nor the
container's stdout), cannot reach the runner's (pidfd_getfd, /proc/1/fd), runs under the runner's
seccomp filter, and has SIGINT as ``python3 -`` and bash would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from agentguard.sandbox import Sandbox, SandboxSettings

from .conftest import assert_gone

pytestmark = pytest.mark.docker

_PROBE = r"""
import ctypes, json, os, signal
libc = ctypes.CDLL(None, use_errno=True)
def status(pid):
    with open(f"/proc/{pid}/status") as f:
        return {k: v.strip() for k, v in (line.split(":", 1) for line in f)}
def opens(path):
    try:
        os.close(os.open(path, os.O_WRONLY))
        return True
    except OSError:
        return False
pidfd = libc.syscall(434, 1, 0)  # pidfd_open(PID 1)
stolen = [libc.syscall(438, pidfd, fd, 0) for fd in range(16)] if pidfd >= 0 else []  # pidfd_getfd
if pidfd >= 0:
    os.close(pidfd)
listed = os.listdir("/proc/self/fd")  # its own descriptor is listed and closed by now
fds = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in listed if os.path.lexists(f"/proc/self/fd/{fd}")}
print(json.dumps({
    "fds": fds,
    "stdin": os.read(0, 4096).decode(),
    "runner_stdout": opens("/proc/1/fd/1"),
    "stolen": [fd for fd in stolen if fd >= 0],
    "filters": [status(p).get("Seccomp_filters") for p in ("self", "1")],
    "sigint": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
}))
"""


@pytest.fixture(scope="module")
def warm_sandbox(images: list[Any], docker_client: Any) -> Iterator[Sandbox]:
    settings = SandboxSettings(pool_size=1, pool_languages=("python", "shell"))
    with Sandbox(settings, client=docker_client, reap_orphans=False) as sb:
        yield sb


def test_the_program_holds_only_its_own_stdio(warm_sandbox: Sandbox) -> None:
    assert warm_sandbox.wait_warm("python", count=1, timeout_s=60)
    r = warm_sandbox.run("python", _PROBE)
    assert_gone(warm_sandbox, r)
    assert r.warm
    assert r.exit_code == 0, r.stderr
    seen = json.loads(r.stdout)
    fds = seen["fds"]
    assert sorted(fds) == ["0", "1", "2"], fds
    assert fds["0"] == "/dev/null"
    assert fds["1"].startswith("pipe:")
    assert fds["2"].startswith("pipe:")
    assert fds["1"] != fds["2"]
    assert seen["stdin"] == ""  # nothing of the request stream is left to read
    assert seen["runner_stdout"] is False  # the end report cannot be forged through PID 1's stdout
    assert seen["stolen"] == []
    program, runner = seen["filters"]
    assert program == runner  # the engine's filter and the runner's, inherited
    assert int(program) >= 2
    assert seen["sigint"] is True


def test_a_shell_program_holds_only_its_own_stdio(warm_sandbox: Sandbox) -> None:
    assert warm_sandbox.wait_warm("shell", count=1, timeout_s=60)
    r = warm_sandbox.run(
        "shell",
        "ls -l /proc/$$/fd | sed -n 's/.* \\([0-9]*\\) -> /\\1 /p'\n"
        "grep -E '^(Seccomp_filters|SigIgn):' /proc/$$/status\n"
        "cat; echo end-of-stdin",
    )
    assert_gone(warm_sandbox, r)
    assert r.warm
    lines = r.stdout.splitlines()
    fds = dict(line.split(" ", 1) for line in lines if line[:1].isdigit())
    assert sorted(fds) == ["0", "1", "2"], fds
    assert fds["0"] == "/dev/null"
    status = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
    assert int(status["Seccomp_filters"]) >= 2
    assert int(status["SigIgn"], 16) & (1 << 1) == 0  # SIGINT (2) not ignored
    assert lines[-1] == "end-of-stdin"
