"""Policies kept in the shared database: ``policy push`` / ``policy pull``, and an engine that follows them.

A push stores a folder's policy files as a new version (after loading them, so a policy that would not
load is never stored) and notifies ``agentguard_policy``. :class:`StoredPolicy` writes the newest
version to ``<home>/policy-db/v<N>/`` and runs a :class:`PolicyEngine` on it, with rule files named
``v<N>-policy.csv``, so rule references read ``v<N>-policy.csv:7``: the version that decided each call
is in its ``policy.decided`` record. A listener thread marks a push; the next call's ``refresh_due``
loads it. If the database cannot be reached the last version loaded stays in force (it is a complete,
validated policy); if no version was ever loaded, opening fails.

The Casbin ecosystem's SQL adapters store one row per rule (``ptype, v0..v5``); the policy here is
more than rows (conditions, several files, comments, ``facts.toml``), so versions of whole files are
stored instead.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

from agentguard.database import Database, DatabaseError, Listener, check_schema
from agentguard.errors import PolicyError
from agentguard.models import Decision, ToolCall
from agentguard.policy._engine import PolicyEngine
from agentguard.policy._loader import MODEL_FILE
from agentguard.policy._types import GrantSource, LintFinding
from agentguard.settings import Settings

__all__ = ["POLICY_CHANNEL", "StoredPolicy", "policy_from_settings", "pull_policy", "push_policy"]

POLICY_CHANNEL = "agentguard_policy"
_SUFFIXES = (".conf", ".csv", ".toml")


def _policy_files(directory: Path) -> dict[str, str]:
    files = {
        p.name: p.read_text(encoding="utf-8")
        for p in sorted(directory.iterdir())
        if p.is_file() and p.suffix in _SUFFIXES and not p.name.startswith(".")
    }
    if MODEL_FILE not in files:
        raise PolicyError(f"{directory}: no {MODEL_FILE}; not a policy folder", file=str(directory))
    return files


def _digest(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return h.hexdigest()


def push_policy(db: Database, directory: Path, *, workspace: Path, pushed_by: str) -> int:
    """Store ``directory``'s policy as a new version (it must load first); the version number."""
    PolicyEngine.load(directory, workspace=workspace)  # raises PolicyError naming file and line
    files = _policy_files(directory)
    with db.transaction() as conn:
        row = conn.execute(
            "INSERT INTO ag_policy_versions (pushed_by, source, digest) VALUES (%s, %s, %s)"
            " RETURNING version",
            (pushed_by, str(directory), _digest(files)),
        ).fetchone()
        version = int(row[0])
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO ag_policy_files (version, name, content) VALUES (%s, %s, %s)",
                [(version, name, text) for name, text in files.items()],
            )
        conn.execute("SELECT pg_notify(%s, %s)", (POLICY_CHANNEL, str(version)))
    return version


def _fetch(db: Database, version: int | None) -> tuple[int, dict[str, str]] | None:
    with db.connection() as conn:
        if version is None:
            found = conn.execute("SELECT max(version) FROM ag_policy_versions").fetchone()
            version = None if found is None or found[0] is None else int(found[0])
        if version is None:
            conn.rollback()
            return None
        rows = conn.execute(
            "SELECT name, content FROM ag_policy_files WHERE version = %s", (version,)
        ).fetchall()
        conn.rollback()
    if not rows:
        return None
    return version, {name: content for name, content in rows}


def pull_policy(db: Database, directory: Path, *, version: int | None = None) -> int:
    """Write a stored version (default: the newest) into ``directory``; its number."""
    found = _fetch(db, version)
    if found is None:
        raise PolicyError(
            f"{db.label}: no policy version {version if version is not None else ''} stored".strip()
        )
    number, files = found
    _materialise(directory, files)
    return number


def _materialise(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = directory / name
        tmp = directory / f".{name}.tmp-{os.getpid()}"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)


class StoredPolicy:
    """A :class:`PolicyEngine` on the newest policy version in the database, reloaded when one is pushed.

    Satisfies the same Protocols as the engine (``PolicyDecider``, ``RefreshablePolicy``,
    ``ListablePolicy``); ``version`` is the version in force.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        database: Database | None = None,
        grants: GrantSource | None = None,
        on_grant_problem: Callable[[LintFinding], None] | None = None,
    ) -> None:
        if settings.database_url is None and database is None:
            raise PolicyError("a stored policy needs database_url")
        try:
            self.db = database if database is not None else Database(settings.database_url or "", max_size=1)
        except DatabaseError as exc:
            raise PolicyError(f"policy: {exc}", **exc.data) from exc
        try:
            check_schema(self.db)
        except DatabaseError as exc:
            if database is None:
                self.db.close()
            raise PolicyError(f"policy: {exc}", **exc.data) from exc
        self.settings = settings
        self.cache = settings.home / "policy-db"
        self._grants = grants
        self._on_grant_problem = on_grant_problem
        self._pushed = threading.Event()
        self._lock = threading.Lock()
        found = self._fetch_or_fail()
        self.version, self.engine = found
        self._listener = Listener(self.db, POLICY_CHANNEL, self._pushed.set)
        self._listener.start()
        self._pushed.clear()  # the version just loaded is the newest one as of now
        self._reload_if_newer()  # ... unless one was pushed while the listener started

    def _fetch_or_fail(self) -> tuple[int, PolicyEngine]:
        try:
            found = _fetch(self.db, None)
        except DatabaseError as exc:
            raise PolicyError(f"policy: {exc}", **exc.data) from exc
        if found is None:
            raise PolicyError(f"{self.db.label}: no policy stored; run `agentguard policy push DIR` first")
        return found[0], self._engine(*found)

    def _engine(self, version: int, files: dict[str, str]) -> PolicyEngine:
        # Rule files are named ``v<N>-policy.csv`` here, so every rule reference (``explain``, the
        # ``rule`` of each ``policy.decided`` record) names the version that decided; the prefix keeps
        # the files' order.
        directory = self.cache / f"v{version}"
        named = {
            (f"v{version}-{name}" if name.endswith(".csv") else name): text for name, text in files.items()
        }
        _materialise(directory, named)
        return PolicyEngine.from_settings(
            self.settings, directory=directory, grants=self._grants, on_grant_problem=self._on_grant_problem
        )

    def _reload_if_newer(self) -> bool:
        try:
            found = _fetch(self.db, None)
        except DatabaseError:
            self._pushed.set()  # try again at the next call; the version in force stays
            return False
        if found is None or found[0] == self.version:
            return False
        try:
            engine = self._engine(*found)
        except (PolicyError, OSError):
            return False  # checked when pushed; if it does not load here, the version in force stays
        with self._lock:
            self.version, self.engine = found[0], engine
        return True

    # -- the engine's Protocols ----------------------------------------------------------------

    def decide(self, call: ToolCall) -> Decision:
        return self.engine.decide(call)

    def refresh(self) -> bool:
        changed = self._reload_if_newer()
        return self.engine.refresh() or changed

    def refresh_due(self) -> bool:
        changed = False
        if self._pushed.is_set():
            self._pushed.clear()
            changed = self._reload_if_newer()
        return self.engine.refresh_due() or changed

    def may_allow(self, agent: str, tool: str) -> bool:
        return self.engine.may_allow(agent, tool)

    def close(self) -> None:
        self._listener.stop()
        self.db.close()


def policy_from_settings(
    settings: Settings,
    *,
    grants: GrantSource | None = None,
    on_grant_problem: Callable[[LintFinding], None] | None = None,
) -> PolicyEngine | StoredPolicy:
    """The policy ``settings`` describe: the folder, or (``policy.source = "database"``) the stored one."""
    if settings.policy.source == "database":
        return StoredPolicy(settings, grants=grants, on_grant_problem=on_grant_problem)
    return PolicyEngine.from_settings(settings, grants=grants, on_grant_problem=on_grant_problem)
