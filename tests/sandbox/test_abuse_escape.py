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
* One ``io_setup(65536)`` took the kernel's whole AIO pool (``fs.aio-max-nr``): io_setup then
  failed on the host and in every other container until the run ended. The filter refuses it.
* A setuid or setgid file could be left in a rw workspace, owned by its owner on the host (pinned
  in test_bypass_shell_script.py): the same filter refuses those mode bits however they are given.
  The doctor now counts seccomp filters, since the runner's alone makes the mode 2.

Pinned (strict xfail, see docs/sandbox.md's limits): what needs a disk quota, per-container uids, a
way to keep a workspace's Unix sockets out of reach, or a per-container pty limit. The pty and
inotify cases empty a pool the kernel shares with the whole machine while they hold it (other test
runs' containers, a non-root developer's editor): they run only with CI=true (the machine is the
run's alone) or AGENTGUARD_EXHAUSTING_TESTS=1.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentguard.sandbox import EndReason, Sandbox, SandboxProfile, SandboxResult, SandboxSettings
from agentguard.testing import FakeResolver
from agentguard.tools.egress import EgressProxy

from .conftest import assert_gone, exhausts_a_shared_kernel_pool, wait_until

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


def test_setuid_and_setgid_bits_cannot_be_set(cold_sandbox: Sandbox) -> None:
    # However a mode is given (chmod, fchmod, an open that creates, mknod), S_ISUID and S_ISGID are
    # refused; other modes are not. In /tmp here; in a rw workspace, test_bypass_shell_script's test.
    code = (
        "import os, stat\n"
        "def tryit(name, f):\n"
        "    try:\n        f(); print(name, 'ok')\n"
        "    except OSError as e:\n        print(name, e.errno)\n"
        "open('/tmp/f', 'w').close(); os.mkdir('/tmp/d')\n"
        "tryit('chmod', lambda: os.chmod('/tmp/f', 0o4755))\n"
        "tryit('chmod-g', lambda: os.chmod('/tmp/d', 0o2775))\n"
        "fd = os.open('/tmp/f', os.O_RDONLY)\n"
        "tryit('fchmod', lambda: os.fchmod(fd, 0o6755))\n"
        "tryit('open', lambda: os.close(os.open('/tmp/g', os.O_CREAT | os.O_WRONLY, 0o4755)))\n"
        "tryit('mknod', lambda: os.mknod('/tmp/h', stat.S_IFREG | 0o4755))\n"
        "tryit('plain', lambda: os.chmod('/tmp/f', 0o755))\n"
        "tryit('create', lambda: os.close(os.open('/tmp/i', os.O_CREAT | os.O_WRONLY, 0o755)))\n"
        "print(sorted(n for n in os.listdir('/tmp') if os.stat('/tmp/' + n).st_mode & 0o6000))\n"
    )
    r = run(cold_sandbox, "python", code)
    assert r.stdout.splitlines() == [
        "chmod 1",
        "chmod-g 1",
        "fchmod 1",
        "open 1",
        "mknod 1",
        "plain ok",
        "create ok",
        "[]",
    ], r.stderr


def test_ordinary_file_tools_still_work_under_the_filter(cold_sandbox: Sandbox) -> None:
    # What the refused bits cost (docs/sandbox.md): tools that preserve modes work and drop the bits,
    # modes without them (sticky included) are untouched; a mode that asks for a setgid directory fails.
    code = (
        "set -u; cd /tmp\n"
        "mkdir -p -m 0750 a/b/c && chmod 1777 a && touch a/b/f && chmod 0755 a/b/f; echo modes=$?\n"
        "tar -cf t.tar a && mkdir out && tar -C out -xf t.tar && tar -C out -xpf t.tar; echo tar=$?\n"
        "stat -c %a out/a out/a/b/c out/a/b/f\n"
        "cp -a /usr/bin/su su && stat -c %a su; echo cp=$?\n"
        "python3 -c \"import tarfile; tarfile.open('t.tar').extractall('py')\"; echo tarfile=$?\n"
        "mkdir -m 2775 g 2>/dev/null; echo setgid-dir=$?\n"
    )
    r = run(cold_sandbox, "shell", code)
    assert r.stdout.splitlines() == [
        "modes=0",
        "tar=0",
        "1777",
        "750",
        "755",
        "755",  # su is 4755 in the image: copied without the bit, and cp succeeds
        "cp=0",
        "tarfile=0",
        "setgid-dir=1",
    ], r.stderr


def test_io_setup_cannot_take_the_hosts_aio_pool(cold_sandbox: Sandbox) -> None:
    # fs.aio-max-nr (65536 by default) is one pool for the whole kernel: a single io_setup(65536)
    # took it all, and io_setup failed with EAGAIN on the host and in every container until the
    # run ended. Refused with ENOSYS, what libaio users take as "no kernel AIO" and fall back from.
    code = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "ctx = ctypes.c_ulong(0)\n"
        "nr = {'x86_64': 206}.get(__import__('os').uname().machine, 0)  # io_setup\n"
        "print(libc.syscall(nr, 65536, ctypes.byref(ctx)), ctypes.get_errno())\n"
    )
    r = run(cold_sandbox, "python", code)
    assert r.stdout == "-1 38\n", r.stderr


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


@pytest.mark.xfail(
    strict=True, reason="no disk quota on a rw workspace: only time bounds what a run writes there"
)
def test_a_rw_workspace_is_not_filled_past_the_tmpfs_size(
    images: list[Any], docker_client: Any, tmp_path: Path
) -> None:
    tmp_path.chmod(0o777)  # the container runs as the workspace's owner, or 10001 for root's
    profile = SandboxProfile(workspace="rw", tmpfs_mb=16, file_size_mb=16)
    code = (
        "n = 0\ntry:\n"
        "    for i in range(6):\n"
        "        with open(f'/workspace/f{i}', 'wb') as f: f.write(b'x' * (16 << 20))\n"
        "        n += 1\n"
        "except OSError as e:\n    print(e.errno)\n"
        "print(n)\n"
    )
    with Sandbox(SandboxSettings(pool_size=0), client=docker_client, workspace=tmp_path) as sb:
        r = run(sb, "python", code, profile=profile)
    assert r.end_reason is EndReason.EXITED, r.stderr
    written = sum(p.stat().st_size for p in tmp_path.iterdir() if p.name.startswith("f"))
    assert written <= 32 << 20, f"{written >> 20} MB written into the workspace"


@exhausts_a_shared_kernel_pool
@pytest.mark.xfail(
    strict=True,
    reason="every container runs as one uid in the host's user namespace: per-uid kernel limits are shared",
)
def test_a_run_cannot_use_up_another_runs_inotify_instances(
    images: list[Any], docker_client: Any, tmp_path: Path
) -> None:
    # The holder takes every inotify instance its uid may have (fs.inotify.max_user_instances) and
    # keeps them until the host says so; the other run, meanwhile, asks for one.
    tmp_path.chmod(0o777)
    holder = (
        "import ctypes, os, time\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "held = 0\n"
        "while libc.inotify_init() >= 0:\n    held += 1\n"
        "open('/workspace/held', 'w').close()\n"
        "while not os.path.exists('/workspace/release'):\n    time.sleep(0.01)\n"
        "print(held)\n"
    )
    other = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.inotify_init() >= 0)\n"
    results: dict[str, SandboxResult] = {}
    with Sandbox(SandboxSettings(pool_size=0), client=docker_client, workspace=tmp_path) as sb:
        rw = SandboxProfile(workspace="rw", timeout_s=60)
        thread = threading.Thread(
            target=lambda: results.setdefault("holder", sb.run("python", holder, profile=rw))
        )
        thread.start()
        try:
            wait_until(lambda: (tmp_path / "held").exists(), 60, "the holder to take its instances")
            results["other"] = sb.run("python", other)
        finally:
            (tmp_path / "release").touch()
            thread.join(90)
    assert results["holder"].end_reason is EndReason.EXITED
    assert int(results["holder"].stdout) > 0
    assert results["other"].stdout == "True\n"


@pytest.mark.xfail(
    strict=True, reason="network none has no interface, but a Unix socket in the workspace is a way out"
)
def test_network_none_code_cannot_reach_a_host_socket_in_the_workspace(
    images: list[Any], docker_client: Any, tmp_path: Path
) -> None:
    # A host program listening in the project (an editor's or a dev server's socket, owned by the
    # user the container runs as: here opened to every uid), and the code of a read-only run.
    tmp_path.chmod(0o755)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "app.sock"))
    listener.listen(4)
    (tmp_path / "app.sock").chmod(0o777)
    code = (
        "import socket\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        "    s.connect('/workspace/app.sock')\n"
        "    s.sendall(b'from a network=none sandbox')\n"
        "except OSError as e:\n"
        "    print(e.errno)\n"
    )
    with listener, Sandbox(SandboxSettings(pool_size=0), client=docker_client, workspace=tmp_path) as sb:
        r = run(sb, "python", code, profile="workspace-ro")
        assert r.end_reason is EndReason.EXITED, r.stderr
        listener.setblocking(False)  # a connection the code made is queued here by now
        with pytest.raises(BlockingIOError):
            listener.accept()[0].close()


def test_doctor_still_sees_whether_the_engine_filters_syscalls(cold_sandbox: Sandbox) -> None:
    # The runner's own filter makes Seccomp mode 2 even where the engine installed none: the doctor
    # counts the filters (the engine's and the runner's) instead.
    check = next(c for c in cold_sandbox.doctor() if c.name == "inside: seccomp filter")
    assert check.ok, check.detail
    assert check.detail == "Seccomp mode 2, 2 filter(s)"


@exhausts_a_shared_kernel_pool
@pytest.mark.xfail(
    strict=True,
    reason="the engine's devpts has no per-container max: one run takes every pty lent to containers",
)
def test_a_run_cannot_take_every_pty_from_other_containers(
    images: list[Any], docker_client: Any, tmp_path: Path
) -> None:
    # kernel.pty.max (4096) less kernel.pty.reserve (1024, kept for the host's own devpts) is one pool
    # for all containers: seven processes of 510 ptys each (1024 descriptors) empty it. The holder
    # keeps them until the host, having run the other code meanwhile, says so (a second at most).
    tmp_path.chmod(0o777)
    holder = (
        "import os, time\n"
        "done = []\n"
        "for _ in range(8):\n"
        "    r, w = os.pipe()\n"
        "    if os.fork() == 0:\n"
        "        fds = []\n"
        "        try:\n"
        "            while True:\n                fds += os.openpty()\n"
        "        except OSError as e:\n"
        "            os.write(w, str(e.errno).encode())\n"
        "        while not os.path.exists('/workspace/release'):\n            time.sleep(0.01)\n"
        "        os._exit(0)\n"
        "    done.append(os.read(r, 8).decode())\n"
        "open('/workspace/held', 'w').close()\n"
        "print(' '.join(done))\n"
        "while not os.path.exists('/workspace/release'):\n    time.sleep(0.01)\n"
    )
    other = "import os\ntry:\n    os.openpty()\n    print('pty')\nexcept OSError as e:\n    print(e.errno)\n"
    results: dict[str, SandboxResult] = {}
    with Sandbox(SandboxSettings(pool_size=0), client=docker_client, workspace=tmp_path) as sb:
        rw = SandboxProfile(workspace="rw", timeout_s=60)
        thread = threading.Thread(
            target=lambda: results.setdefault("holder", sb.run("python", holder, profile=rw))
        )
        thread.start()
        try:
            wait_until(lambda: (tmp_path / "held").exists(), 60, "the holder to take the ptys")
            results["other"] = sb.run("python", other)
        finally:
            (tmp_path / "release").touch()
            thread.join(90)
    assert "28" in results["holder"].stdout.split()  # ENOSPC: the pool was empty when it stopped
    assert results["other"].stdout == "pty\n"
