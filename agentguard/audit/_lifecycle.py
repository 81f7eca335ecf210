"""What becomes of buffered records when the process forks, exits, or is told to terminate.

- Exit: every open log is closed (flushed). A log that cannot write its records says so on
  stderr, naming the file and how many records are lost, and the process exits with status 74
  (EX_IOERR) when that is safe: see ``_exit_with_failure``.
- SIGTERM / SIGHUP: Python's default action ends the process without running exit handlers, so
  a batch-mode log would lose records it had already accepted. The first batch-mode log opened
  in the main thread installs a handler that flushes every log, then does what was there before:
  the default action (the process still dies of the signal) or the application's own handler.
  A signal that was ignored stays ignored. An application that installs its own handler later
  replaces ours; it then owns the flush (``AuditLog.flush()``/``close()``, or ``sys.exit``).
- Fork: the child drops the buffer it inherited (the parent owns those records).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Protocol

from agentguard.errors import AuditError

__all__ = ["EXIT_RECORDS_LOST", "Buffered", "deferred_signal", "deliver_deferred", "track", "untrack"]

EXIT_RECORDS_LOST = 74  # EX_IOERR from sysexits.h

_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_Handler = Callable[[int, FrameType | None], object]


class Buffered(Protocol):
    """What this module needs of a log (``AuditLog``)."""

    @property
    def path(self) -> Path: ...

    @property
    def buffered(self) -> int: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def _held_here(self) -> bool: ...

    def _forget_after_fork(self) -> None: ...


_open: weakref.WeakSet[Buffered] = weakref.WeakSet()
_previous: dict[int, _Handler | int] = {}  # signal -> the handler we took over from
_deferred: list[tuple[int, FrameType | None]] = []
DEFERRED = _deferred  # read in place by a log leaving its lock (only ever appended to and cleared)
_exit_slot = 0  # atexit's callback count right after our handler was (re-)registered
_exit_lock = threading.Lock()


def track(log: Buffered, *, buffers: bool) -> None:
    """Flush ``log`` at exit (and, if it ``buffers``, on SIGTERM/SIGHUP) until ``untrack``."""
    _open.add(log)
    _register_exit_handler()
    if buffers:
        _install_signal_handlers()


def untrack(log: Buffered) -> None:
    _open.discard(log)


def _say_lost(log: Buffered, count: int, when: str, exc: AuditError) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.write(
            f"agentguard: audit log {log.path}: {count} buffered record(s) could not be written "
            f"{when} and are lost: {exc}\n"
        )
        sys.stderr.flush()


# -- exit ------------------------------------------------------------------------------


def _register_exit_handler() -> None:
    """(Re-)register our exit handler as the latest, so it runs before the others (LIFO)."""
    global _exit_slot
    with _exit_lock:
        atexit.unregister(_flush_all_at_exit)
        atexit.register(_flush_all_at_exit)
        _exit_slot = atexit._ncallbacks()


def _flush_all_at_exit() -> None:
    failed = False
    for log in list(_open):
        count = log.buffered
        try:
            log.close()
        except AuditError as exc:
            _say_lost(log, count, "at exit", exc)
            failed = True
    if failed:
        _exit_with_failure()


def _exit_with_failure() -> None:
    """Make the exit status non-zero, where the process can still do that safely.

    By the time exit handlers run, the interpreter has fixed the exit status; only ``os._exit``
    changes it, and that skips the handlers still to run. So: only if ours is the first exit
    handler to run (none was registered after the last log was opened), we run all the others
    ourselves, once each, flush stdout/stderr, and ``os._exit(74)``. What still does not run is
    the interpreter's own teardown (finalisers of objects left open). Otherwise the message on
    stderr is all there is.
    """
    if threading.current_thread() is not threading.main_thread() or atexit._ncallbacks() != _exit_slot:
        return
    atexit.unregister(_flush_all_at_exit)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(EXIT_RECORDS_LOST)


# -- signals ---------------------------------------------------------------------------


def _install_signal_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may install handlers; documented
    for signum in _SIGNALS:
        if signum in _previous:
            continue
        previous = signal.getsignal(signum)
        if previous is None or previous is signal.SIG_IGN:
            continue  # installed outside Python, or deliberately ignored: leave it be
        _previous[signum] = previous
        signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if any(log._held_here() for log in list(_open)):
        # The interrupted code is in the middle of writing to a log: flushing now could write
        # its batch twice. Finish that first; the log calls deliver_deferred() on the way out.
        _deferred.append((signum, frame))
        return
    _flush_all(signum)
    _pass_on(signum, frame)


def deferred_signal() -> bool:
    return bool(_deferred)


def deliver_deferred() -> None:
    """Called by a log when the main thread leaves it: handle a signal that arrived meanwhile."""
    if not _deferred or threading.current_thread() is not threading.main_thread():
        return
    if any(log._held_here() for log in list(_open)):
        return
    signum, frame = _deferred[0]
    _deferred.clear()
    _flush_all(signum)
    _pass_on(signum, frame)


def _flush_all(signum: int) -> None:
    for log in list(_open):
        count = log.buffered
        try:
            log.flush()
        except AuditError as exc:
            _say_lost(log, count, f"on {signal.Signals(signum).name}", exc)


def _pass_on(signum: int, frame: FrameType | None) -> None:
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # the default action: the process ends, killed by the signal


# -- fork ------------------------------------------------------------------------------


def _after_fork_in_child() -> None:
    _deferred.clear()
    for log in list(_open):
        log._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
