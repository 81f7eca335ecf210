"""Keeping the engine's policy current: what changed decides what is rebuilt, and on which thread.

A grant (an extra file such as ``grants.csv``, or the grant store's version) rebuilds only the grant
layer, on the caller's thread, before the call is decided: it takes milliseconds, and a revoked grant
must stop applying at the very next call. A policy file edit re-parses only the files whose content
changed, then re-indexes the policy. For a policy of more than ``BACKGROUND_RULES`` rules (re-indexing
100,000 rules takes about half a second) the per-call check runs that rebuild on a background thread
and the old policy keeps deciding until the new one is swapped in whole; one rebuild at a time, and an
edit made during one starts another. ``reload`` and ``refresh`` are always synchronous.

A rebuild that fails, in the background too, fails closed: every call is denied, naming the problem,
until the files are valid again (never a mix of the old policy and a broken edit).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentguard.errors import PolicyError
from agentguard.policy._conditions import CompileEnv, FactSource
from agentguard.policy._facts import FACTS_FILE
from agentguard.policy._layers import (
    BaseLayer,
    Conditions,
    PolicyState,
    SourceCache,
    build_base,
    build_grants,
    combine,
    grant_files,
)
from agentguard.policy._loader import MODEL_FILE, paused_gc, policy_files
from agentguard.policy._outputs import OUTPUTS_FILE
from agentguard.policy._types import GrantSource, LintFinding

__all__ = ["BACKGROUND_RULES", "Reloader"]

BACKGROUND_RULES = 20_000

# (mtime, ctime, size, inode), plus the content's digest when the stamp was taken within
# ``RACY_NS`` of the file's last change (see ``stamp``); None for a missing file.
_Plain = tuple[int, int, int, int]
_Stat = _Plain | tuple[int, int, int, int, bytes] | None
_UNREAD: _Stat = (-1, -1, -1, -1)  # a file not read yet: differs from any stat, a missing file's None too
# File times come from a coarse clock (a kernel tick; whole seconds, or two, on some file systems):
# two writes of the same size within one tick leave the same stat, so a stat taken that soon after
# a change cannot tell the second write from the first. Such a stamp also holds the content's digest.
# A file system that keeps whole seconds (FAT: two) gets RACY_NS; one that keeps finer times stamps
# from the kernel's coarse clock, a tick of at most 10 ms (HZ >= 100): FINE_RACY_NS is ten of them.
# (Within the window every check hashes the file: at 100,000 rules, milliseconds a call.)
RACY_NS = 2_000_000_000
FINE_RACY_NS = 100_000_000
_SECOND = 1_000_000_000


def stat(path: str) -> _Plain | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    # ctime too: cp -p, rsync -a and tar set mtime back after writing in place; nothing sets ctime back
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def _digest(path: str) -> bytes:
    """The content of a file (the sorted names of a folder), hashed; empty when it cannot be read
    (so it differs from any content's digest)."""
    try:
        if os.path.isdir(path):
            data = "\0".join(sorted(os.listdir(path))).encode("utf-8", "surrogateescape")
        else:
            with open(path, "rb") as handle:
                data = handle.read()
    except OSError:
        return b""
    return hashlib.blake2b(data, digest_size=16).digest()


def _racy(st: _Plain) -> bool:
    coarse = st[0] % _SECOND == 0 and st[1] % _SECOND == 0  # whole seconds: a coarse file system
    return time.time_ns() - max(st[0], st[1]) < (RACY_NS if coarse else FINE_RACY_NS)


def stamp(path: str) -> _Stat:
    """How ``path`` looks now: its stat, and its digest when the stat is too recent to tell two
    writes in one clock tick apart. Taken *before* the file is read: a write after it changes the
    stat, or (within one tick) the digest."""
    now = stat(path)
    if now is None or not _racy(now):
        return now
    return (*now, _digest(path))


def unchanged(path: str, old: _Stat) -> tuple[bool, _Stat]:
    """Whether ``path`` is as stamped, and the stamp to keep: a racy stamp whose content still
    matches once its tick is long past settles to the plain stat (no digest on every later check)."""
    now = stat(path)
    if now is None or old is None:
        return now == old, old
    if now != old[:4]:
        return False, old
    if len(old) == 4:
        return True, old
    same = _digest(path) == old[4]
    return same, (now if same and not _racy(now) else old)


@dataclass(frozen=True)
class _Watch:
    """What the last load read, and how each file looked just before it was read."""

    paths: tuple[str, ...] = ()
    stamp: tuple[_Stat, ...] = ()
    urgent: tuple[int, ...] = ()  # the extra (grant) files: checked before every call
    grant_only: frozenset[int] = frozenset()  # those of them in the grant layer (not in the directory)


class Reloader:
    """The engine's current policy (``state``, or ``failure``) and the files and grants it came from."""

    def __init__(
        self,
        directory: Path,
        extra: Sequence[Path],
        env: CompileEnv,
        conditions: Conditions,
        *,
        facts: FactSource | None,
        grants: GrantSource | None,
        on_grant_problem: Callable[[LintFinding], None] | None,
    ) -> None:
        self._directory = directory
        self._extra = tuple(extra)
        self._env = env
        self._conditions = conditions
        self._facts = facts
        self._grants = grants
        self._on_grant_problem = on_grant_problem
        self.state: PolicyState | None = None
        self.failure: PolicyError | None = PolicyError("policy not loaded yet", file=str(directory))
        self.grant_problems: tuple[LintFinding, ...] = ()
        self.checked_at = 0.0  # when the policy files were last compared with their stamp
        self._grants_version: object = None
        self._watch = _Watch()
        self._base: BaseLayer | None = None
        self._base_cache = SourceCache()  # used under _build_lock
        self._grant_cache = SourceCache()  # used under _lock
        self._lock = threading.Lock()  # swaps of state, failure, watch, base
        self._build_lock = threading.Lock()  # one base build at a time
        self._worker: threading.Thread | None = None
        self._again = False  # an edit was seen while the worker was building

    # ---------------------------------------------------------------- loading

    def reload(self) -> None:
        """Read the files and grants again, now. Raises ``PolicyError`` (and fails closed) on failure."""
        with self._build_lock:
            self._rebuild()

    def _rebuild(self) -> None:
        with self._lock:
            self._watch = self._new_watch()  # taken first: a change during the read is seen next time
            self.checked_at = time.monotonic()
        with paused_gc():  # one collection after the whole build, not one per stage
            base = build_base(self._directory, self._env, self._extra, self._conditions, self._base_cache)
            with self._lock:
                self._base = base
                self._install_grants()

    def _new_watch(self) -> _Watch:
        directory = self._directory
        # Stamped before the listing: a file added after the listing changes this stamp, so the next
        # check lists it again (stamped after, such a file would be loaded but never watched).
        folder = stamp(str(directory))
        try:
            own = policy_files(directory)
        except OSError:
            own = []
        extra = [p for p in self._extra if p not in own]
        fixed = (directory / MODEL_FILE, directory / FACTS_FILE, directory / OUTPUTS_FILE)
        # The directory's own mtime changes when a file is added, removed or renamed into place,
        # so stat-ing the files found at the last load is enough; no directory listing per call.
        paths = tuple(str(path) for path in (directory, *fixed, *own, *extra))
        extras = {str(path) for path in self._extra}
        urgent = tuple(i for i, path in enumerate(paths) if path in extras)
        # An extra file that is (or may become) one of the directory's CSVs sits among the policy
        # files in load order: a change to it rebuilds the base, at once (it is a grant).
        inside = {i for i in urgent if Path(paths[i]).parent == directory and paths[i].endswith(".csv")}
        grant_only = frozenset(urgent) - inside
        # The grant files are stamped when they are read (_install_grants): until then, as last read, so
        # a grant written while a background rebuild reads the policy still applies at the next call.
        before = dict(zip(self._watch.paths, self._watch.stamp, strict=True))
        stamps = tuple(
            folder if i == 0 else before.get(path, _UNREAD) if i in grant_only else stamp(path)
            for i, path in enumerate(paths)
        )
        return _Watch(paths, stamps, urgent, grant_only)

    def _install_grants(self) -> None:
        """Read the grants, build their layer over the current base and swap the whole state in (the
        caller holds ``_lock``). Raises ``PolicyError`` when the result cannot load."""
        base = self._base
        if base is None:
            return
        watch = self._watch
        stamps = list(watch.stamp)
        for i in watch.grant_only:  # taken first: a change during the read is seen next time
            stamps[i] = stamp(watch.paths[i])
        self._watch = _Watch(watch.paths, tuple(stamps), watch.urgent, watch.grant_only)
        texts, unavailable = self._read_grants()
        files = grant_files(base, self._extra)
        grants = build_grants(base, self._directory, files, texts, self._conditions, self._grant_cache)
        loaded = combine(base, grants)
        self._set_grant_problems((*unavailable, *loaded.skipped))
        if loaded.errors:
            first = loaded.errors[0]
            more = len(loaded.errors) - 1
            suffix = (
                f" (and {more} more problem{'s' if more > 1 else ''}; run 'agentguard policy check')"
                if more
                else ""
            )
            failure = PolicyError(
                first.message + suffix,
                file=first.file,
                line=first.line,
                findings=[f.model_dump() for f in loaded.errors],
            )
            self._fail(failure)
            raise failure
        self.state = PolicyState(base, grants, loaded, self._facts)
        self.failure = None

    def _fail(self, failure: PolicyError) -> None:
        self.state = None  # first: a decision never sees the old policy with the new failure unset
        self.failure = failure

    def _read_grants(self) -> tuple[list[tuple[str, bytes]], tuple[LintFinding, ...]]:
        """The grants from the store of record; if it cannot be read, none apply (fail closed)."""
        source = self._grants
        if source is None:
            return [], ()
        try:
            version, text = source.grants_snapshot()
        except Exception as exc:  # noqa: BLE001 - any failure: no grant applies, and say why
            self._grants_version = None
            finding = LintFinding(
                severity="warning",
                file=source.label,
                message=f"grants unavailable, none applies until the store can be read: "
                f"{type(exc).__name__}: {exc}",
                code="grants-unavailable",
            )
            return [], (finding,)
        self._grants_version = version
        return [(source.label, text.encode("utf-8"))], ()

    def _set_grant_problems(self, problems: tuple[LintFinding, ...]) -> None:
        new = [p for p in problems if p not in self.grant_problems]
        self.grant_problems = problems
        if self._on_grant_problem is not None:
            for problem in new:
                with contextlib.suppress(Exception):  # reporting must never break deciding
                    self._on_grant_problem(problem)

    # ---------------------------------------------------------------- noticing changes

    def grants_changed(self) -> bool:
        if self._grants is None:
            return False
        try:
            return self._grants.grants_version() != self._grants_version
        except Exception:  # noqa: BLE001 - unreadable store: reload, which then applies no grant
            return self._grants_version is not None

    def urgent_changed(self) -> bool:
        """Whether a grant file or the grant store changed (checked before every call)."""
        watch = self._watch
        # no grant files (the common policy): nothing to stat, and no call to find that out
        return (bool(watch.urgent) and bool(self._changed(watch, watch.urgent))) or self.grants_changed()

    def refresh(self, *, background: bool = False) -> bool:
        """Rebuild what changed (policy files, grants); True when something did. Never raises: a
        failure is kept in ``failure``. ``background``: a large policy's file edits are rebuilt on
        another thread while the current policy keeps deciding."""
        self.checked_at = time.monotonic()
        watch = self._watch
        changed = self._changed(watch, range(len(watch.paths)))
        policy_changed = changed - watch.grant_only
        grants_changed = bool(changed & watch.grant_only) or self.grants_changed()
        if not policy_changed and not grants_changed:
            return False
        if not policy_changed:
            self._refresh_grants()
        elif background and self._deferrable(policy_changed, watch):
            if grants_changed:
                self._refresh_grants()
            self._start_background()
        else:
            with contextlib.suppress(PolicyError):  # the failure is kept in failure; decide denies
                self.reload()
        return True

    def _changed(self, watch: _Watch, indexes: Iterable[int]) -> set[int]:
        """Which of ``watch``'s files changed since they were stamped; a racy stamp that has
        settled is replaced by its plain stat (unless a reload swapped the watch meanwhile)."""
        changed: set[int] = set()
        settled: dict[int, _Stat] = {}
        for i in indexes:
            same, kept = unchanged(watch.paths[i], watch.stamp[i])
            if not same:
                changed.add(i)
            elif kept is not watch.stamp[i]:
                settled[i] = kept
        # Settling is bookkeeping: never wait for the lock on the per-call path (a reload holding
        # it may be reading grants from a database); a later check settles them instead.
        if settled and self._lock.acquire(blocking=False):
            try:
                if self._watch is watch:
                    stamps = [settled.get(i, s) for i, s in enumerate(watch.stamp)]
                    self._watch = _Watch(watch.paths, tuple(stamps), watch.urgent, watch.grant_only)
            finally:
                self._lock.release()
        return changed

    def _deferrable(self, changed: set[int], watch: _Watch) -> bool:
        """A valid, large policy whose edit touched no grant: the old policy may serve meanwhile."""
        state = self.state
        return (
            state is not None
            and len(state.base.policy.rules) > BACKGROUND_RULES
            and not changed.intersection(watch.urgent)
        )

    def _refresh_grants(self) -> None:
        with self._lock, contextlib.suppress(PolicyError):  # kept in failure; decide denies
            self._install_grants()

    # ---------------------------------------------------------------- background

    def _start_background(self) -> None:
        with self._lock:
            if self._worker is not None:
                self._again = True
                return
            self._worker = threading.Thread(
                target=self._background, name="agentguard-policy-reload", daemon=True
            )
            self._worker.start()

    def _background(self) -> None:
        while True:
            with self._build_lock:
                try:
                    self._rebuild()
                except PolicyError:
                    pass  # kept in failure: decide denies
                except Exception as exc:  # noqa: BLE001 - fail closed, naming the cause
                    with self._lock:
                        self._fail(
                            PolicyError(f"policy reload failed, failing closed: {type(exc).__name__}: {exc}")
                        )
            with self._lock:
                if not self._again:
                    self._worker = None
                    return
                self._again = False

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background rebuild to finish (and any it started); True when none is running."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            worker = self._worker
            if worker is None:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            worker.join(remaining)
