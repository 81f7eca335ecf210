"""Attack tests: each abuse is contained, ends with the right end reason, and leaves no container.

Nothing here sends traffic anywhere: the network test only reads /proc/net inside the container.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from agentguard.sandbox import EndReason, Sandbox, SandboxProfile, SandboxResult

from .conftest import assert_gone, containers_of

pytestmark = pytest.mark.docker


def run(sb: Sandbox, language: str, code: str, **kw: Any) -> SandboxResult:
    result = sb.run(language, code, **kw)  # type: ignore[arg-type]
    assert_gone(sb, result)
    return result


def test_fork_bomb_hits_the_pids_limit(cold_sandbox: Sandbox) -> None:
    # The bomb's root keeps waiting, so only the timeout ends it; every fork past the limit fails.
    r = run(cold_sandbox, "shell", "bomb() { bomb | bomb & }; bomb; sleep 60", timeout_s=3)
    assert r.end_reason is EndReason.TIMEOUT
    py = run(cold_sandbox, "python", "import os\nwhile True:\n    os.fork()", timeout_s=5)
    assert py.end_reason is EndReason.EXITED
    assert "Resource temporarily unavailable" in py.stderr  # EAGAIN from the pids cgroup


def test_memory_bomb_is_oom_killed(cold_sandbox: Sandbox) -> None:
    r = run(
        cold_sandbox,
        "python",
        "x = b'x' * (1024**3)\nprint('survived')",
        profile=SandboxProfile(memory_mb=64),
    )
    assert r.end_reason is EndReason.OOM
    assert r.signal == 9
    assert r.exit_code == 137
    assert "survived" not in r.stdout
    assert r.peak_memory_bytes is not None
    assert r.peak_memory_bytes <= 64 * 1024 * 1024


def test_cpu_spin_past_the_timeout(cold_sandbox: Sandbox) -> None:
    start = time.monotonic()
    r = run(cold_sandbox, "python", "while True: pass", timeout_s=1.5)
    assert r.end_reason is EndReason.TIMEOUT
    assert r.exit_code is None
    assert time.monotonic() - start < 15
    # The runner enforced the timeout, so the run still says what it used: it was spinning.
    assert r.cpu_time_ms is not None
    assert r.cpu_time_ms > 500
    assert r.peak_memory_bytes is not None
    assert r.peak_memory_bytes > 0


def test_sleep_past_the_timeout(cold_sandbox: Sandbox) -> None:
    r = run(cold_sandbox, "shell", "echo before; sleep 100; echo after", timeout_s=1.5)
    assert r.end_reason is EndReason.TIMEOUT
    assert r.stdout == "before\n"  # output up to the kill is kept
    assert 1400 <= r.duration_ms < 10_000
    assert r.cpu_time_ms is not None
    assert r.cpu_time_ms < 500


def test_filling_tmp_stops_at_the_tmpfs_size(cold_sandbox: Sandbox) -> None:
    code = (
        "import os\nn = 0\ntry:\n"
        "    for i in range(100):\n"
        "        with open(f'/tmp/f{i}', 'wb') as f: f.write(b'x' * (4 << 20))\n"
        "        n += 1\n"
        "except OSError as e:\n    print(n, e.errno)\n"
    )
    r = run(cold_sandbox, "python", code, profile=SandboxProfile(tmpfs_mb=16))
    written, errno = r.stdout.split()
    assert errno == "28"  # ENOSPC
    assert int(written) <= 4  # 16 MB of /tmp, 4 MB per file
    big = run(cold_sandbox, "python", "open('/tmp/big', 'wb').write(b'x' * (32 << 20))")
    assert "File too large" in big.stderr  # the file-size ulimit (16 MB) comes first


def test_stdout_flood_of_100_mb_is_cut(cold_sandbox: Sandbox) -> None:
    code = "import sys\nchunk = b'y' * 65536\nfor _ in range(1600):\n    sys.stdout.buffer.write(chunk)\n"
    r = run(cold_sandbox, "python", code, timeout_s=30)
    assert r.end_reason is EndReason.OUTPUT_LIMIT
    assert r.stdout_truncated
    assert len(r.stdout) < SandboxProfile().output_bytes + 200
    assert r.stdout.endswith("[agentguard: stdout truncated at 1000000 bytes]\n")


def test_root_filesystem_is_read_only(cold_sandbox: Sandbox) -> None:
    r = run(
        cold_sandbox,
        "shell",
        "for p in /etc/x /usr/bin/x /x /opt/agentguard/runner.py; do echo hi > $p; done",
    )
    assert r.stderr.count("Read-only file system") + r.stderr.count("Permission denied") == 4
    assert r.exit_code != 0


def test_etc_shadow_is_unreadable(cold_sandbox: Sandbox) -> None:
    r = run(cold_sandbox, "shell", "cat /etc/shadow")
    assert r.exit_code == 1
    assert "Permission denied" in r.stderr
    assert r.stdout == ""


def test_mount_is_refused(cold_sandbox: Sandbox) -> None:
    r = run(cold_sandbox, "shell", "mount -t tmpfs none /tmp; echo rc=$?; grep -c ' /tmp ' /proc/mounts")
    assert "rc=32" in r.stdout  # mount(8): permission failure
    assert r.stdout.strip().endswith("1")  # still only the one /tmp mount


def test_unshare_is_refused(cold_sandbox: Sandbox) -> None:
    r = run(cold_sandbox, "shell", "unshare -U -r id; echo rc=$?; unshare -m id; echo rc=$?")
    assert r.stdout.splitlines() == ["rc=1", "rc=1"]
    assert r.stderr.count("Operation not permitted") == 2


def test_ptrace_of_other_processes_fails(cold_sandbox: Sandbox) -> None:
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def attach(pid):\n"
        "    rc = libc.ptrace(16, pid, 0, 0)  # PTRACE_ATTACH\n"
        "    return rc, ctypes.get_errno()\n"
        f"print(attach(1), attach({os.getpid()}))\n"
        "print(' '.join(p for p in os.listdir('/proc') if p.isdigit()))\n"
    )
    r = run(cold_sandbox, "python", code)
    first, procs = r.stdout.splitlines()
    # PID 1 (the runner) is not dumpable: EPERM. The host's pid does not exist in here: ESRCH.
    assert first == "(-1, 1) (-1, 3)"
    visible = {int(p) for p in procs.split()}
    assert len(visible) <= 3  # its own PID namespace: the runner, the program, maybe a zombie
    assert 1 in visible


def test_setuid_is_refused(cold_sandbox: Sandbox) -> None:
    code = (
        "import os\n"
        "for f in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.setresuid(0, 0, 0)):\n"
        "    try:\n        f(); print('escalated')\n"
        "    except PermissionError:\n        print('refused')\n"
        "status = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "print(*(status[k].strip() for k in ('NoNewPrivs', 'CapEff', 'CapBnd')), os.getuid())\n"
    )
    r = run(cold_sandbox, "python", code)
    assert r.stdout.splitlines() == ["refused"] * 3 + ["1 0000000000000000 0000000000000000 10001"]
    su = run(cold_sandbox, "shell", "su -c id root </dev/null; echo rc=$?")
    assert "uid=0" not in su.stdout


def test_kernel_module_loading_is_refused(cold_sandbox: Sandbox) -> None:
    code = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print(libc.syscall(313, -1, b'', 0), ctypes.get_errno())  # finit_module\n"
        "print(libc.syscall(175, None, 0, b''), ctypes.get_errno())  # init_module\n"
        "print(libc.syscall(176, b'x', 0), ctypes.get_errno())  # delete_module\n"
    )
    r = run(cold_sandbox, "python", code)
    assert r.stdout.splitlines() == ["-1 1"] * 3  # EPERM each time


def test_network_has_only_loopback_and_no_route(cold_sandbox: Sandbox) -> None:
    code = (
        "dev = [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]]\n"
        "routes = open('/proc/net/route').read().splitlines()[1:]\n"
        "routes6 = [l for l in open('/proc/net/ipv6_route') if not l.split()[-1] == 'lo']\n"
        "print(dev, routes, routes6)\n"
    )
    r = run(cold_sandbox, "python", code)
    assert r.stdout == "['lo'] [] []\n"


def test_background_process_does_not_outlive_the_call(cold_sandbox: Sandbox) -> None:
    start = time.monotonic()
    r = run(cold_sandbox, "shell", "setsid sleep 300 & (nohup sleep 300 >/dev/null 2>&1 &); echo started")
    assert r.end_reason is EndReason.EXITED
    assert r.stdout == "started\n"
    assert time.monotonic() - start < 10  # the call did not wait for its children
    left = [c for c in containers_of(cold_sandbox.api, os.getpid()) if c["Id"] == r.container_id]
    assert left == []  # and they died with the container (assert_gone drained the removal)


def test_second_call_does_not_see_the_first_calls_files(cold_sandbox: Sandbox) -> None:
    first = run(cold_sandbox, "shell", "echo secret > /tmp/left-behind; ls /tmp")
    assert "left-behind" in first.stdout
    second = run(cold_sandbox, "shell", "ls -A /tmp; cat /tmp/left-behind")
    assert second.stdout == ""
    assert "No such file" in second.stderr
    assert first.container_id != second.container_id
