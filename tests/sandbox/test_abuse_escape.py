"""Red team of the container boundary: what sandboxed code can do to its runner, the kernel and other calls.

Each test runs real code through ``Sandbox.run`` with the shipped profiles. Found and fixed:

* SIGINT to PID 1 killed the runner (Python's default SIGINT handler is a handler, so the kernel
  delivers it to a namespace's init): the run's output and report were lost and the result became
  a sandbox ``error`` of the code's choosing. The runner now ignores SIGINT; its program still gets
  the default disposition.
* ``io_uring_setup`` was allowed (the engine's default seccomp profile before Docker 25 allows the
  io_uring syscalls: a large kernel surface whose operations seccomp never sees). The runner now
  denies them with its own filter, inherited by everything the code starts, and the egress shim's
  forwarder (same uid, started before the runner) is no longer ptrace-able to run them for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agentguard.sandbox import EndReason, Sandbox, SandboxProfile, SandboxResult, SandboxSettings
from agentguard.testing import FakeResolver
from agentguard.tools.egress import EgressProxy

from .conftest import assert_gone

pytestmark = pytest.mark.docker


def run(sb: Sandbox, language: str, code: str, **kw: Any) -> SandboxResult:
    result = sb.run(language, code, **kw)  # type: ignore[arg-type]
    assert_gone(sb, result)
    return result


def test_sigint_to_pid_1_does_not_kill_the_runner(cold_sandbox: Sandbox) -> None:
    r = run(cold_sandbox, "shell", "echo before; kill -INT 1; echo sent=$?; exit 7")
    assert r.end_reason is EndReason.EXITED, r.stderr
    assert r.exit_code == 7
    assert r.stdout == "before\nsent=0\n"
    py = run(cold_sandbox, "python", "import os, signal\nos.kill(1, signal.SIGINT)\nprint('after')")
    assert (py.end_reason, py.exit_code, py.stdout) == (EndReason.EXITED, 0, "after\n")


def test_the_program_keeps_the_default_sigint(cold_sandbox: Sandbox) -> None:
    # Ignored in the runner must not mean ignored in the program (an ignored signal survives exec).
    sh = run(cold_sandbox, "shell", "bash -c 'kill -INT $$; echo survived'; echo rc=$?")
    assert sh.stdout == "rc=130\n"
    py = run(cold_sandbox, "python", "import signal\nprint(signal.getsignal(signal.SIGINT).__name__)")
    assert py.stdout == "default_int_handler\n"


_IO_URING = (
    "import ctypes\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "params = ctypes.create_string_buffer(120)\n"
    "for nr in (425, 425 | 0x40000000):  # io_uring_setup, natively and through the x32 numbering\n"
    "    print(libc.syscall(nr, 4, params), ctypes.get_errno())\n"
)


def test_io_uring_is_denied(cold_sandbox: Sandbox) -> None:
    r = run(cold_sandbox, "python", _IO_URING)
    assert r.stdout.splitlines()[0] == "-1 1"  # EPERM, as newer engines' default profile answers
    assert r.stdout.splitlines()[1].startswith("-1 ")
    # A shell's programs are the runner's descendants too.
    sh = run(cold_sandbox, "shell", f"python3 -c {_shell_quote(_IO_URING)}")
    assert sh.stdout.splitlines()[0] == "-1 1"


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture(scope="module")
def policy_sandbox(images: list[Any], docker_client: Any) -> Iterator[Sandbox]:
    proxy = EgressProxy(resolver=FakeResolver({}))
    settings = SandboxSettings(
        pool_size=0, profiles={"net": SandboxProfile(network="policy")}, default_profile="net"
    )
    with Sandbox(settings, client=docker_client, egress=proxy, reap_orphans=False) as sb:
        yield sb
    proxy.close()


def test_no_other_process_in_a_policy_container_can_be_ptraced(policy_sandbox: Sandbox) -> None:
    # The egress forwarder runs as the code's uid and outside the runner's filter: attached, it
    # would make any syscall the code asked of it.
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "others = [int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]\n"
        "for pid in sorted(others):\n"
        "    if libc.ptrace(16, pid, 0, 0) == 0:  # PTRACE_ATTACH\n"
        "        print('attached', pid, open(f'/proc/{pid}/cmdline').read().replace(chr(0), ' '))\n"
        "print(len(others))\n"
    )
    r = run(policy_sandbox, "python", code)
    assert r.end_reason is EndReason.EXITED, r.stderr
    assert r.stdout.splitlines()[-1] == "2"  # the runner and the forwarder were both there
    assert r.stdout.splitlines()[:-1] == []
