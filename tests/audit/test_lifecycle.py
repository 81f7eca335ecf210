"""Buffered records at the end of a process: exit with a failing flush, SIGTERM and SIGHUP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentguard.audit import read_records, verify

from .conftest import REPO, run_python

FAILING_EXIT = textwrap.dedent(
    """
    import atexit, os, sys
    atexit.register(lambda: print("earlier exit handler ran", flush=True))
    from pathlib import Path
    from agentguard.audit import AuditLog
    from agentguard.settings import Durability
    path = Path(sys.argv[1])
    log = AuditLog(path, durability=Durability.BATCH)
    if sys.argv[2] == "late":
        atexit.register(lambda: print("later exit handler ran", flush=True))
    for i in range(3):
        log.record("tick", i=i)
    os.rename(path, str(path) + ".moved")
    os.mkdir(path)  # the path now names something the log cannot write to
    print("main done")
    """
)


def test_records_lost_at_exit_are_reported_and_the_exit_status_says_so(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    result = run_python(FAILING_EXIT, str(path), "none")
    assert (
        f"audit log {path}: 3 buffered record(s) could not be written at exit and are lost" in result.stderr
    )
    assert result.returncode == 74, result.stderr
    # The other exit handlers still ran, once each, and stdout was flushed.
    assert result.stdout.splitlines() == ["main done", "earlier exit handler ran"]


def test_records_lost_at_exit_when_the_status_cannot_be_changed_safely(tmp_path: Path) -> None:
    """A handler registered after the log was opened already ran: exiting now would skip or repeat
    handlers, so the message on stderr is all there is (documented)."""
    path = tmp_path / "audit.jsonl"
    result = run_python(FAILING_EXIT, str(path), "late")
    assert (
        f"audit log {path}: 3 buffered record(s) could not be written at exit and are lost" in result.stderr
    )
    assert result.returncode == 0
    assert result.stdout.splitlines() == ["main done", "later exit handler ran", "earlier exit handler ran"]


WAIT_FOR_SIGNAL = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from agentguard.audit import AuditLog
    from agentguard.settings import Durability
    path = Path(sys.argv[1])
    if sys.argv[2] == "app-handler":
        def app_handler(signum, frame):
            lines = path.read_bytes().count(b"\\n")
            print(f"app handler saw {lines} lines", flush=True)
            sys.exit(3)
        signal.signal(signal.SIGTERM, app_handler)
        signal.signal(signal.SIGHUP, app_handler)
    log = AuditLog(path, durability=Durability.BATCH, batch_size=1000)
    for i in range(5):
        log.record("tick", i=i)
    if sys.argv[2] == "mid-write":
        with log._mutex:  # as if the signal arrived while this thread was writing to the log
            os.kill(os.getpid(), int(sys.argv[3]))
            print("finished the write first", flush=True)
        print("not reached", flush=True)
    print("ready", flush=True)
    while True:
        signal.pause()
    """
)


def _run_until_signalled(path: Path, mode: str, signum: int) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WAIT_FOR_SIGNAL, str(path), mode, str(signum)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        if mode != "mid-write":
            assert proc.stdout.readline() == "ready\n"
            os.kill(proc.pid, signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err, err
    return proc.returncode, out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signal_flushes_buffered_records_then_kills_as_before(tmp_path: Path, signum: int) -> None:
    path = tmp_path / "audit.jsonl"
    code, _ = _run_until_signalled(path, "plain", signum)
    assert code == -signum  # still dies of the signal, as the default action does
    assert [r["i"] for r in read_records(path)] == list(range(5))
    assert verify(path).ok


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signal_flushes_then_chains_to_the_applications_handler(tmp_path: Path, signum: int) -> None:
    path = tmp_path / "audit.jsonl"
    code, out = _run_until_signalled(path, "app-handler", signum)
    assert out.splitlines() == ["app handler saw 5 lines"]  # flushed before theirs ran
    assert code == 3
    assert len(list(read_records(path))) == 5


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signal_during_a_write_waits_for_the_write(tmp_path: Path, signum: int) -> None:
    path = tmp_path / "audit.jsonl"
    code, out = _run_until_signalled(path, "mid-write", signum)
    assert out.splitlines() == ["finished the write first"]
    assert code == -signum
    assert [r["i"] for r in read_records(path)] == list(range(5))


def test_an_ignored_signal_stays_ignored(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import signal, sys
        from pathlib import Path
        from agentguard.audit import AuditLog
        from agentguard.settings import Durability
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        log = AuditLog(Path(sys.argv[1]), durability=Durability.BATCH)
        print(signal.getsignal(signal.SIGHUP) is signal.SIG_IGN, signal.getsignal(signal.SIGTERM).__name__)
        """
    )
    result = run_python(code, str(tmp_path / "audit.jsonl"))
    assert result.stdout.split() == ["True", "_on_signal"], result.stderr
