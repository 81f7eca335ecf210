"""Sandbox.run against the real engine: results, limits, profiles, the warm pool, labels, errors."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agentguard.errors import SandboxError
from agentguard.owner import current_owner
from agentguard.sandbox import EndReason, Sandbox, SandboxProfile, SandboxSettings, check_hardening
from agentguard.sandbox._engine import CALL_ID, OWNER_HOST, OWNER_PID, POOL

from .conftest import assert_gone, containers_of, wait_until

pytestmark = pytest.mark.docker


def test_python_result_fields(cold_sandbox: Sandbox) -> None:
    r = cold_sandbox.run("python", "import sys\nprint(6*7)\nprint('warn', file=sys.stderr)", call_id="c-1")
    assert (r.exit_code, r.stdout, r.stderr, r.end_reason) == (0, "42\n", "warn\n", EndReason.EXITED)
    assert r.ok
    assert r.call_id == "c-1"
    assert r.language == "python"
    assert r.profile == "default"
    assert r.duration_ms > 0
    assert r.peak_memory_bytes is not None
    assert r.peak_memory_bytes > 1_000_000
    assert r.cpu_time_ms is not None
    assert r.cpu_time_ms > 0
    assert_gone(cold_sandbox, r)


def test_python_exit_codes_and_tracebacks(cold_sandbox: Sandbox) -> None:
    r = cold_sandbox.run("python", "x = 1\n1/0\n")
    assert r.exit_code == 1
    assert r.end_reason is EndReason.EXITED
    assert 'File "<sandbox>", line 2' in r.stderr
    assert "1/0" in r.stderr
    assert "ZeroDivisionError" in r.stderr
    assert "runner.py" not in r.stderr  # the runner's own frames are not shown
    assert cold_sandbox.run("python", "raise SystemExit(7)").exit_code == 7
    bye = cold_sandbox.run("python", "raise SystemExit('bye')")
    assert (bye.exit_code, bye.stderr) == (1, "bye\n")
    syntax = cold_sandbox.run("python", "def (:")
    assert syntax.exit_code == 1
    assert "SyntaxError" in syntax.stderr


def test_python_environment(cold_sandbox: Sandbox) -> None:
    code = (
        "import os, sys, json, threading, atexit\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "t = threading.Thread(target=lambda: print('thread ran')); t.start()\n"
        "print(json.dumps([os.getcwd(), os.getuid(), os.environ['HOME'], sys.stdin.read(), __name__]))\n"
    )
    r = cold_sandbox.run("python", code)
    lines = r.stdout.splitlines()
    assert "thread ran" in lines
    assert lines[-1] == "atexit ran"
    assert ["/tmp", 10001, "/tmp", "", "__main__"] in [_json(line) for line in lines]


def _json(line: str) -> Any:
    import json

    try:
        return json.loads(line)
    except ValueError:
        return None


def test_shell_runs_bash_with_exit_codes(cold_sandbox: Sandbox) -> None:
    r = cold_sandbox.run("shell", "echo out; echo err >&2; [[ 1 == 1 ]] && exit 3")
    assert (r.exit_code, r.stdout, r.stderr) == (3, "out\n", "err\n")
    killed = cold_sandbox.run("shell", "kill -TERM $$")
    assert killed.end_reason is EndReason.EXITED
    assert killed.signal == 15
    assert killed.exit_code == 143
    big = "true\n" * 13106 + "echo done\n"  # 65,540 bytes: -c cannot carry it (test_bypass_shell_script)
    with pytest.raises(SandboxError, match="shell command"):
        cold_sandbox.run("shell", big)
    assert cold_sandbox.run("shell", big[5:]).stdout == "done\n"  # 65,535 bytes: the largest


def test_unicode_round_trips(cold_sandbox: Sandbox) -> None:
    r = cold_sandbox.run("python", "print('héllo ✓ 日本')")
    assert r.stdout == "héllo ✓ 日本\n"


def test_output_cap_truncates_with_a_marker(cold_sandbox: Sandbox) -> None:
    prof = SandboxProfile(output_bytes=2048)
    code = "import sys\nsys.stderr.write('e'*10)\nprint(('x' * 99 + ' ') * 50)"
    r = cold_sandbox.run("python", code, profile=prof)
    assert r.end_reason is EndReason.OUTPUT_LIMIT
    assert r.stdout_truncated
    assert not r.stderr_truncated
    # the 2048 bytes kept, less the word the cut went through (it could be the start of a secret)
    assert r.stdout == ("x" * 99 + " ") * 20 + "\n[agentguard: stdout truncated at 2048 bytes]\n"
    assert r.profile == "custom"
    assert_gone(cold_sandbox, r)


def test_output_exactly_at_the_cap_is_whole_on_both_streams(cold_sandbox: Sandbox) -> None:
    # Past 64 KiB: the runner writes its batched records before the cap is met, and the rest with the report.
    prof = SandboxProfile(output_bytes=70000)
    both = "head -c 70000 /dev/zero | tr '\\0' o; head -c 70000 /dev/zero | tr '\\0' e >&2"
    r = cold_sandbox.run("shell", both, profile=prof)
    assert (r.end_reason, r.exit_code) == (EndReason.EXITED, 0)
    assert (r.stdout_truncated, r.stderr_truncated) == (False, False)
    assert (r.stdout, r.stderr) == ("o" * 70000, "e" * 70000)
    over = cold_sandbox.run(
        "shell", "head -c 70000 /dev/zero | tr '\\0' o; head -c 70001 /dev/zero >&2", profile=prof
    )
    assert over.end_reason is EndReason.OUTPUT_LIMIT
    assert (over.stdout_truncated, over.stderr_truncated) == (False, True)
    assert over.stdout == "o" * 70000


def test_named_profile_and_workspace_mounts(images: Any, docker_client: Any, tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("from the host", encoding="utf-8")
    if os.geteuid() == 0:
        os.chown(tmp_path, 1234, 1234)  # a workspace owned by an ordinary user
    settings = SandboxSettings(
        pool_size=0,
        profiles={"ws-ro": SandboxProfile(workspace="ro"), "ws-rw": SandboxProfile(workspace="rw")},
    )
    with Sandbox(settings, workspace=tmp_path, client=docker_client, reap_orphans=False) as sb:
        ro = sb.run("shell", "pwd; cat data.txt; echo; echo x > new.txt", profile="ws-ro")
        assert ro.stdout.startswith("/workspace\nfrom the host\n")
        assert "Read-only file system" in ro.stderr
        assert ro.exit_code != 0
        assert ro.loosenings == ("workspace mounted read-only at /workspace",)
        rw = sb.run("shell", "echo written > new.txt; id -u", profile="ws-rw")
        assert rw.exit_code == 0
        assert (tmp_path / "new.txt").read_text() == "written\n"
        owner = tmp_path.stat().st_uid
        assert rw.stdout == f"{owner if owner else 10001}\n"  # runs as the workspace's owner, never root
        assert (tmp_path / "new.txt").stat().st_uid == (owner or 10001)
        none = sb.run("shell", "ls /workspace; cat /workspace/data.txt")
        assert none.exit_code != 0
        assert "from the host" not in none.stdout
        with pytest.raises(SandboxError, match="unknown sandbox profile 'nope'"):
            sb.run("python", "print(1)", profile="nope")
        with pytest.raises(SandboxError, match="unknown sandbox language"):
            sb.run("ruby", "puts 1")  # type: ignore[arg-type]


def test_unreadable_workspace_fails_instead_of_running_elsewhere(
    images: Any, docker_client: Any, tmp_path: Path
) -> None:
    workspace = tmp_path / "private"
    workspace.mkdir(mode=0o700)
    if os.geteuid() != 0:
        pytest.skip("needs a root-owned private directory: run as root (CI does)")
    settings = SandboxSettings(pool_size=0)
    with Sandbox(settings, workspace=workspace, client=docker_client, reap_orphans=False) as sb:
        r = sb.run("shell", "pwd", profile="workspace-ro")
    assert r.exit_code == 126
    assert r.stdout == ""
    assert "cannot enter /workspace" in r.stderr


def test_sensitive_workspace_is_refused_before_any_container(images: Any, docker_client: Any) -> None:
    settings = SandboxSettings(pool_size=0, profiles={"ws": SandboxProfile(workspace="rw")})
    with Sandbox(settings, workspace=Path("/"), client=docker_client, reap_orphans=False) as sb:
        before = len(containers_of(sb.api, os.getpid()))
        with pytest.raises(SandboxError, match="refusing to mount workspace /"):
            sb.run("shell", "ls", profile="ws")
        assert len(containers_of(sb.api, os.getpid())) == before


def test_missing_image_says_what_to_run(docker_client: Any) -> None:
    settings = SandboxSettings(pool_size=1, image_prefix="agentguard-test-missing")
    with (
        Sandbox(settings, client=docker_client, reap_orphans=False) as sb,
        pytest.raises(SandboxError, match="run `agentguard sandbox build`"),
    ):
        sb.run("python", "print(1)")


def test_unreachable_engine_is_a_sandbox_error() -> None:
    with pytest.raises(SandboxError, match="Docker engine unreachable") as info:
        Sandbox(SandboxSettings(docker_host="unix:///nonexistent/docker.sock"))
    assert "agentguard sandbox doctor" in str(info.value)
    assert info.value.code == "sandbox.error"


def test_cold_containers_carry_labels_while_running(cold_sandbox: Sandbox) -> None:
    box: dict[str, Any] = {}

    def call() -> None:
        box["r"] = cold_sandbox.run("shell", "sleep 30", call_id="lbl-1", timeout_s=3)

    t = threading.Thread(target=call)
    t.start()
    try:

        def mine() -> list[dict[str, Any]]:
            return [
                c for c in containers_of(cold_sandbox.api, os.getpid()) if c["Labels"][CALL_ID] == "lbl-1"
            ]

        wait_until(lambda: bool(mine()), what="the call's container")
        row = mine()[0]
        labels = row["Labels"]
        assert labels[OWNER_PID] == str(os.getpid())
        assert labels[OWNER_HOST] == current_owner().host
        assert labels[POOL] == "false"
        # Hardening of the live container, from docker inspect.
        items = check_hardening(cold_sandbox.api.inspect_container(row["Id"]))
        assert [i.name for i in items if not i.ok] == []
    finally:
        t.join(30)
    assert box["r"].end_reason is EndReason.TIMEOUT
    assert box["r"].exit_code is None
    assert box["r"].container_id == row["Id"]
    assert cold_sandbox.api.containers(all=True, filters={"id": row["Id"]}) == []  # killed before returning


def test_warm_pool_serves_single_use_containers(images: Any, docker_client: Any) -> None:
    settings = SandboxSettings(pool_size=2, pool_languages=("python",))
    with Sandbox(settings, client=docker_client, reap_orphans=False) as sb:
        assert sb.wait_warm("python", timeout_s=60)
        first = sb.run("python", "open('/tmp/secret', 'w').write('s'); print('wrote')")
        assert first.warm
        assert first.stdout == "wrote\n"
        assert sb.wait_warm("python", timeout_s=60)
        second = sb.run("python", "import os; print(os.path.exists('/tmp/secret'))")
        assert second.warm
        assert second.stdout == "False\n"
        assert first.container_id != second.container_id
        assert_gone(sb, first)
        assert_gone(sb, second)

        # Concurrent callers: each gets its own container and its own answer.
        assert sb.wait_warm("python", count=2, timeout_s=60)
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: sb.run("python", f"print({i}*2)"), range(8)))
        assert [r.stdout for r in results] == [f"{i * 2}\n" for i in range(8)]
        assert len({r.container_id for r in results}) == 8
        # Callers beyond the pool wait for the containers the fillers are starting (no cold start).
        assert all(r.warm for r in results)
        assert sb.wait_warm("python", timeout_s=60)  # refilled in the background
        assert sb.drain(30)
        warm_ids = {c["Id"] for c in containers_of(sb.api, os.getpid())}
        assert not warm_ids & {r.container_id for r in results}
        idle = containers_of(sb.api, os.getpid())
        assert idle
        assert all(c["Labels"][POOL] == "true" and c["Labels"][CALL_ID] == "pool" for c in idle)
    # close() removes the idle warm containers too
    wait_until(lambda: not containers_of(docker_client.api, os.getpid()), what="pool containers removed")
