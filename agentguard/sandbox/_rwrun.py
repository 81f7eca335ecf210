"""A rw workspace around one run: the gate while its container is made and while its code runs, a
warm container checked against the read-only mounts it must carry, and the sweep once it is done.

What is kept read-only is ``_protect``; the gate across threads and processes ``_rwgate``; what is
set aside ``_quarantine``. Profiles without a rw workspace pass through ungated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from agentguard.errors import SandboxError
from agentguard.sandbox._container import Live, check_workspace
from agentguard.sandbox._managed import reap_rw_orphans
from agentguard.sandbox._protect import mount_key, protected_mounts
from agentguard.sandbox._quarantine import Watch
from agentguard.sandbox._rwgate import gate_for, mounting
from agentguard.sandbox_api import SandboxProfile

__all__ = ["making", "running", "stale", "watch_for"]


@contextlib.contextmanager
def making(api: Any, workspace: Path | None, profile: SandboxProfile) -> Iterator[None]:
    """Held while a container for ``profile`` is made (mounts computed, container started): a rw one
    waits until no rw code runs on the workspace (above or below it), and first removes the
    containers of dead owners still running on it (``reap_rw_orphans``); a ro one waits until no rw
    code runs above it."""
    if profile.workspace == "ro":  # rw code above the workspace could swap it while it is mounted
        with mounting(str(check_workspace(workspace, "ro"))):
            yield
        return
    if profile.workspace != "rw":
        yield
        return
    source = str(check_workspace(workspace, "rw"))
    with gate_for(source).making():
        reap_rw_orphans(api, source)
        yield


def watch_for(workspace: Path | None, protected: Iterable[Path], profile: SandboxProfile) -> Watch | None:
    """What a run of ``profile`` is swept for (None: not a rw workspace)."""
    if profile.workspace != "rw":
        return None
    source = check_workspace(workspace, "rw")
    return Watch(source, protected) if source is not None else None


def stale(watch: Watch, live: Live) -> bool:
    """A warm container made before a ``.git`` or a protected path appeared: it lacks a mount."""
    return live.kept != mount_key(protected_mounts(str(watch.root), watch.protected))


@contextlib.contextmanager
def running(watch: Watch | None) -> Iterator[Callable[[], tuple[str, ...]]]:
    """Held while the code runs (a rw workspace: the gate); yields the sweep, to call once the run's
    processes are gone. A run that fails is swept on the way out (after the caller killed it)."""
    if watch is None:
        yield tuple
        return
    with gate_for(str(watch.root)).running(watch) as before:
        try:
            yield lambda: watch.settle(before)
        except BaseException:
            with contextlib.suppress(OSError, SandboxError):  # the first error is the one raised
                watch.settle(before)
            raise
