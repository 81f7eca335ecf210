"""The rw gate: no rw container is made on a workspace while code runs in another one, in any process.

The engine reads a mount's source path when the container starts, following symlinks: code running
elsewhere in the workspace could swap a directory about to be mounted (a new ``sub/`` holding a new
``.git``) for a link to any host directory, mounted then in the new container. So making rw
containers (mount paths computed, container started) and running rw code exclude each other; runs
overlap runs and makings overlap makings within a process.

Across processes (two guards, an MCP proxy with a rw server) the gate is a set of ``flock`` locks
keyed by the workspace's real path, in a directory private to the user outside any workspace
(``/tmp/agentguard-rw-<uid>``, mode 0700, refused if another user owns it):

- ``<key>.main``: shared while rw code runs, exclusive while a rw container is made.
- ``<key>.servers``: shared while a rw container is made; exclusive for the life of a rw sandboxed
  MCP server (its code runs as long as it lives), so no rw container is made on that workspace
  meanwhile: the attempt is refused at once, naming the server, instead of waiting for its end.
- ``<key>.slot``: held by a rw MCP server for its life: a second one on the same workspace is refused.

``<key>.server`` names the server holding them, for the refusals. Locks go with their process; a
container can outlive its owner, so the containers of dead owners on the workspace are removed
before a rw container is made (``reap_rw_orphans``). Processes of other users are not seen.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from agentguard.errors import SandboxError
from agentguard.sandbox._quarantine import Watch

__all__ = ["RwGate", "ServerHold", "gate_for", "lock_dir"]

LOCK_PARENT = Path("/tmp")  # fixed on purpose (not TMPDIR): every process of the user must agree


def lock_dir() -> Path:
    """The directory of the gate's lock files: the same for every process of this user, whatever its
    environment (``TMPDIR`` differs between a shell and an MCP client), and not writable by others."""
    path = LOCK_PARENT / f"agentguard-rw-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise SandboxError(
            f"{path} (the rw sandbox lock directory) is not a directory private to uid {os.getuid()}; "
            "refusing rw workspaces until it is removed",
            path=str(path),
        )
    return path


def _lock_path(source: str, kind: str) -> Path:
    """The lock file of ``kind`` for the workspace at ``source`` (resolved), outside the workspace."""
    directory = lock_dir()
    real = os.path.realpath(directory)
    if real == source or real.startswith(source.rstrip("/") + "/"):
        raise SandboxError(
            f"the rw sandbox lock directory {directory} is inside the workspace {source}: code there "
            "could tamper with it; refusing the rw workspace",
            workspace=source,
        )
    key = hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return directory / f"{key}.{kind}"


class _Flock:
    """One ``flock`` on one open file: held until ``release``."""

    def __init__(self, path: Path, mode: int) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(self._fd, mode)
        except BaseException:
            os.close(self._fd)
            raise

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)  # closing the only descriptor of this open file drops its lock


def _holder(source: str) -> str:
    """Who holds ``<key>.slot`` (what a rw MCP server wrote there), for the error message."""
    try:
        text = _lock_path(source, "server").read_text("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "a rw sandboxed MCP server"


def _refused(source: str, what: str) -> SandboxError:
    return SandboxError(
        f"{what}: {_holder(source)} runs on the workspace {source} with the workspace mounted "
        "read-write; a rw container made meanwhile could mount what its code swaps in (stop that "
        "server first)",
        workspace=source,
    )


class RwGate:
    """Making rw containers and running rw code on one workspace exclude each other, in this process
    (one gate per workspace, see ``gate_for``) and across processes (the locks above).

    Runs in this process that overlap share one snapshot, taken when the first began: a run's own
    snapshot could hold what another, still running, made.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._cond = threading.Condition()
        self._count = {"making": 0, "running": 0}
        self._held: list[_Flock] = []
        self._baseline: frozenset[str] = frozenset()

    @contextlib.contextmanager
    def making(self) -> Iterator[None]:
        with self._hold("making", "running", None):
            yield

    @contextlib.contextmanager
    def running(self, watch: Watch) -> Iterator[frozenset[str]]:
        """Held while rw code runs; yields the snapshot to settle against."""
        with self._hold("running", "making", watch):
            yield self._baseline

    def _acquire(self, mine: str) -> list[_Flock]:
        if mine == "running":
            return [_Flock(_lock_path(self.source, "main"), fcntl.LOCK_SH)]
        try:
            servers = _Flock(_lock_path(self.source, "servers"), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refused(self.source, "cannot make a rw sandbox container now") from None
        try:
            return [servers, _Flock(_lock_path(self.source, "main"), fcntl.LOCK_EX)]
        except BaseException:
            servers.release()
            raise

    @contextlib.contextmanager
    def _hold(self, mine: str, other: str, watch: Watch | None) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._count[other] == 0)
            if self._count[mine] == 0:
                # Nothing of this gate is held in this process: take the cross-process locks (under
                # the condition: threads of either kind wait for them anyway).
                self._held = self._acquire(mine)
                if watch is not None:
                    try:
                        self._baseline = watch.snapshot()
                    except BaseException:
                        self._release()
                        raise
            self._count[mine] += 1
        try:
            yield
        finally:
            with self._cond:
                self._count[mine] -= 1
                if self._count[mine] == 0:
                    self._release()
                self._cond.notify_all()

    def _release(self) -> None:
        for lock in reversed(self._held):
            lock.release()
        self._held = []


_gates: dict[str, RwGate] = {}
_gates_lock = threading.Lock()


def gate_for(source: str) -> RwGate:
    """The one gate of this process for the workspace at ``source`` (resolved): every ``Sandbox``
    on it shares it (two gates of one process would not see each other)."""
    with _gates_lock:
        gate = _gates.get(source)
        if gate is None:
            gate = _gates[source] = RwGate(source)
        return gate


class ServerHold:
    """What a rw sandboxed MCP server holds for its life: the only server on its workspace, and no
    rw container made there meanwhile. ``making`` is held while its own container is made."""

    def __init__(self, source: str, description: str) -> None:
        self.source = source
        try:
            self._slot = _Flock(_lock_path(source, "slot"), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refused(source, "cannot start this rw sandboxed MCP server") from None
        self._held = [self._slot]
        try:
            _lock_path(source, "server").write_text(f"{description} (pid {os.getpid()})\n", "utf-8")
            # Waits for rw containers being made elsewhere (a short while): they hold it shared.
            self._held.append(_Flock(_lock_path(source, "servers"), fcntl.LOCK_EX))
        except BaseException:
            self.release()
            raise

    @contextlib.contextmanager
    def making(self) -> Iterator[None]:
        """Held while this server's container is made: waits for rw code running elsewhere (bounded
        by its timeout)."""
        lock = _Flock(_lock_path(self.source, "main"), fcntl.LOCK_EX)
        try:
            yield
        finally:
            lock.release()

    def release(self) -> None:
        for lock in reversed(self._held):
            lock.release()
        self._held = []
