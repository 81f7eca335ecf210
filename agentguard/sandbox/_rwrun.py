"""A rw workspace around one run: the gate while its container is made and while its code runs, a
warm container checked against the read-only mounts it must carry, and the sweep once it is done.

What is kept read-only is ``_protect``; the gate across threads and processes ``_rwgate``; what is
set aside ``_quarantine``. Profiles without a rw workspace pass through ungated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from agentguard.sandbox._container import Live, check_workspace
from agentguard.sandbox._protect import mount_key, protected_mounts
from agentguard.sandbox._quarantine import Watch
from agentguard.sandbox._rwgate import gate_for
from agentguard.sandbox_api import SandboxProfile

__all__ = ["making", "running", "stale", "watch_for"]


def making(workspace: Path | None, profile: SandboxProfile) -> AbstractContextManager[None]:
    """Held while a container for ``profile`` is made (mounts computed, container started): a rw one
    waits until no rw code runs on the workspace."""
    if profile.workspace != "rw":
        return contextlib.nullcontext()
    return gate_for(str(check_workspace(workspace, "rw"))).making()


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
            with contextlib.suppress(OSError):
                watch.settle(before)
            raise
