"""One owner notion for the approval queue and the sandbox: pid + host + start token, pid reuse caught."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from agentguard.owner import Owner, current_owner, is_alive


def test_this_process_is_alive_and_a_reused_pid_is_not() -> None:
    me = current_owner()
    assert me == Owner.current()
    assert me.pid == os.getpid()
    assert me.host == socket.gethostname()
    assert me.start is not None
    assert ":" in me.start
    assert is_alive(me) is True
    assert is_alive(Owner(pid=me.pid, host=me.host, start="other-boot:1")) is False
    assert is_alive(Owner(pid=me.pid, host="elsewhere.invalid", start=me.start)) is None


def test_a_bare_start_time_from_old_sandbox_labels_is_still_understood() -> None:
    me = current_owner()
    assert me.start is not None
    ticks = me.start.rpartition(":")[2]
    assert is_alive(Owner(pid=me.pid, host=me.host, start=ticks)) is True
    assert is_alive(Owner(pid=me.pid, host=me.host, start=str(int(ticks) + 1))) is False


def test_a_finished_process_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    # The child's own view of itself, built the way it would record it.
    owner = Owner(pid=child.pid, host=socket.gethostname(), start=None)
    try:
        assert is_alive(owner) is True
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    assert is_alive(owner) is False
