"""The rw gate: no rw container is made on a workspace while code runs in another one, in any process.

The engine reads a mount's source path when the container starts, following symlinks: code running
elsewhere in the workspace could swap a directory about to be mounted (a new ``sub/`` holding a new
``.git``) for a link to any host directory, mounted then in the new container. So making rw
containers (mount paths computed, container started) and running rw code exclude each other; runs
overlap runs and makings overlap makings within a process.

Across processes (two guards, an MCP proxy with a rw server) the gate is a set of ``flock`` locks
keyed by real paths, in a directory private to the user outside any workspace
(``/tmp/agentguard-rw-<uid>``, mode 0700, refused if another user owns it). Workspaces nest (one
guard on a monorepo, another on ``frontend/`` in it): code running in either can swap what a
container on the other is about to mount, so a workspace's gate covers those above and below it,
never its siblings:

- ``<key>.main``: shared while rw code runs on that workspace, exclusive while a rw container is
  made on it or on a workspace below it.
- ``<key>.below``: shared while rw code runs on a workspace below it, exclusive while a rw container
  is made on it.
- ``<key>.servers``: exclusive for the life of a rw sandboxed MCP server on that workspace (its code
  runs as long as it lives); shared while a rw container is made on it or below it, taken without
  waiting: a making is refused at once, naming the server, instead of waiting for its end.
- ``<key>.servers-below``: shared for the life of a rw MCP server below it; exclusive, without
  waiting, while a rw container is made on it (makings on one workspace take it in turn, holding
  ``.main``).
- ``<key>.slot``: held by a rw MCP server for its life: a second one on the same workspace is refused
  (one above or below it is refused by the locks above).

Blocking locks are taken in one order (their file names), the ones taken without waiting after
them: no two processes wait for each other. ``<key>.server`` names the server holding them, for the
refusals. Locks go with their process; a container can outlive its owner, so the containers of dead
owners on the workspace, above or below it, are removed before a rw container is made
(``reap_rw_orphans``). Processes of other users are not seen.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from agentguard.errors import SandboxError
from agentguard.sandbox._quarantine import Watch

__all__ = [
    "RwGate",
    "ServerHold",
    "gate_for",
    "lock_dir",
    "making_plan",
    "mounting",
    "mounting_plan",
    "running_plan",
]

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
    return _key_path(directory, source, kind)


def _key_path(directory: Path, path: str, kind: str) -> Path:
    key = hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return directory / f"{key}.{kind}"


def _above(source: str) -> list[str]:
    """The directories holding the workspace at ``source``, up to ``/``."""
    return [str(parent) for parent in PurePosixPath(source).parents]


Plan = list[tuple[Path, int]]


def making_plan(source: str) -> tuple[Plan, Plan]:
    """What making a rw container on ``source`` takes: the locks it waits for, then the ones it takes
    without waiting (a rw MCP server on it, above or below it: refused)."""
    _lock_path(source, "main")  # the directory, checked against the workspace
    directory = lock_dir()
    wait = [(_key_path(directory, p, "main"), fcntl.LOCK_EX) for p in [source, *_above(source)]]
    wait.append((_key_path(directory, source, "below"), fcntl.LOCK_EX))
    now = [(_key_path(directory, p, "servers"), fcntl.LOCK_SH) for p in [source, *_above(source)]]
    now.append((_key_path(directory, source, "servers-below"), fcntl.LOCK_EX))
    return wait, now


def running_plan(source: str) -> Plan:
    """What running rw code on ``source`` takes (waiting for makings on it, above or below it)."""
    main = _lock_path(source, "main")
    directory = lock_dir()
    return [
        (main, fcntl.LOCK_SH),
        *((_key_path(directory, p, "below"), fcntl.LOCK_SH) for p in _above(source)),
    ]


def mounting_plan(source: str) -> tuple[Plan, Plan]:
    """What making a container that mounts ``source`` read-only takes: rw code running above it
    could swap the workspace itself for a link to any host directory, mounted then (its own code,
    and code below it, cannot: the workspace is their mount or outside it)."""
    _lock_path(source, "main")
    directory = lock_dir()
    above = _above(source)
    return (
        [(_key_path(directory, p, "main"), fcntl.LOCK_EX) for p in above],
        [(_key_path(directory, p, "servers"), fcntl.LOCK_SH) for p in above],
    )


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


def _take(wait: Plan, now: Plan, refused: Callable[[Path], SandboxError]) -> list[_Flock]:
    """The ``wait`` locks in file-name order, then the ``now`` ones without waiting (``refused`` of
    the first taken: raised)."""
    held: list[_Flock] = []
    try:
        for path, mode in sorted(wait, key=lambda item: str(item[0])):
            held.append(_Flock(path, mode))
        for path, mode in now:
            try:
                held.append(_Flock(path, mode | fcntl.LOCK_NB))
            except BlockingIOError:
                raise refused(path) from None
    except BaseException:
        for lock in reversed(held):
            lock.release()
        raise
    return held


def _holder(source: str) -> str:
    """Who holds ``<key>.slot`` (what a rw MCP server wrote there), for the error message."""
    try:
        text = _lock_path(source, "server").read_text("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "a rw sandboxed MCP server"


def _refused(source: str, what: str, taken: Path | None = None) -> SandboxError:
    """The refusal of ``what`` on ``source`` because of the server lock file ``taken`` (None: on it)."""
    where, who = source, _holder(source)
    if taken is not None and taken.name.endswith(".servers-below"):
        where, who = f"a directory inside {source}", "a rw sandboxed MCP server"
    elif taken is not None:
        where = next(
            (p for p in [source, *_above(source)] if _key_path(taken.parent, p, "servers") == taken), source
        )
        who = _holder(where)
    return SandboxError(
        f"{what}: {who} runs on the workspace {where} with the workspace mounted "
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
            return _take(running_plan(self.source), [], lambda _: SandboxError("unreachable"))
        wait, now = making_plan(self.source)
        return _take(
            wait, now, lambda taken: _refused(self.source, "cannot make a rw sandbox container now", taken)
        )

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


@contextlib.contextmanager
def mounting(source: str) -> Iterator[None]:
    """Held while a container mounting the workspace at ``source`` read-only is made: waits for rw
    code running above it; a rw MCP server above it refuses it."""
    wait, now = mounting_plan(source)
    what = "cannot make a sandbox container with the workspace now"
    locks = _take(wait, now, lambda taken: _refused(source, what, taken))
    try:
        yield
    finally:
        for lock in reversed(locks):
            lock.release()


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
            slot = _Flock(_lock_path(source, "slot"), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refused(source, "cannot start this rw sandboxed MCP server") from None
        self._held = [slot]
        try:
            _lock_path(source, "server").write_text(f"{description} (pid {os.getpid()})\n", "utf-8")
            directory = lock_dir()
            above = _above(source)
            # Waits for rw containers being made on it, above or below it (a short while): they hold
            # these shared, or exclusive for a moment.
            wait = [(_key_path(directory, source, "servers"), fcntl.LOCK_EX)]
            wait += [(_key_path(directory, p, "servers-below"), fcntl.LOCK_SH) for p in above]
            self._held += _take(wait, [], lambda _: SandboxError("unreachable"))
            # Then no server above it, nor below it: checked, not kept (a later one is refused by
            # what this one holds).
            now = [(_key_path(directory, p, "servers"), fcntl.LOCK_SH) for p in above]
            now.append((_key_path(directory, source, "servers-below"), fcntl.LOCK_EX))
            what = "cannot start this rw sandboxed MCP server"
            for lock in _take([], now, lambda taken: _refused(source, what, taken)):
                lock.release()
        except BaseException:
            self.release()
            raise

    @contextlib.contextmanager
    def making(self) -> Iterator[None]:
        """Held while this server's container is made: waits for rw code running on its workspace,
        above or below it (bounded by their timeouts)."""
        wait, _ = making_plan(self.source)
        locks = _take(wait, [], lambda _: SandboxError("unreachable"))
        try:
            yield
        finally:
            for lock in reversed(locks):
                lock.release()

    def release(self) -> None:
        for lock in reversed(self._held):
            lock.release()
        self._held = []
