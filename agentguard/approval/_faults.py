"""Fault injection for the crash tests: die with SIGKILL at the Nth step of a state change.

Set ``AGENTGUARD_FAULT_KILL_AT=N`` in a subprocess and it kills itself at the Nth :func:`step` it
reaches (each commit, file replacement and audit hand-off is a step), exactly as ``kill -9`` would.
Tests run an operation for N = 1, 2, ... until it completes, and check after each death that what
the policy enforces still equals what the approval store says. Unset (always, outside tests), a step
costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["ENV", "step"]

ENV = "AGENTGUARD_FAULT_KILL_AT"
_count = 0


def step(name: str) -> None:
    """One point at which a crash may happen; the name is printed to stderr when the test asks."""
    global _count
    target = os.environ.get(ENV)
    if not target:
        return
    _count += 1
    if os.environ.get(ENV + "_TRACE"):
        print(f"fault step {_count}: {name}", file=sys.stderr, flush=True)
    if str(_count) == target:
        os.kill(os.getpid(), signal.SIGKILL)
