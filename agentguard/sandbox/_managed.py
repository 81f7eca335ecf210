"""Managed containers as ``sandbox ps`` and ``reap`` see them: listed by label, owners checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docker.errors import DockerException

from agentguard.errors import SandboxError
from agentguard.owner import current_owner
from agentguard.sandbox._container import remove
from agentguard.sandbox._engine import (
    CALL_ID,
    LANGUAGE,
    MANAGED,
    OWNER_HOST,
    OWNER_PID,
    POOL,
    PROFILE,
    owner_alive,
    owner_labels,
)
from agentguard.sandbox._remover import EngineDestroyed

__all__ = [
    "ManagedContainer",
    "list_managed",
    "own_container_ids",
    "own_destroyed",
    "reap",
    "reap_rw_orphans",
]


@dataclass(frozen=True, slots=True)
class ManagedContainer:
    """A container carrying ``io.agentguard.managed=true``, as ``sandbox ps`` and ``reap`` see it."""

    id: str
    name: str
    status: str
    language: str
    profile: str
    call_id: str
    pool: bool
    owner_pid: str
    owner_host: str
    owner_alive: bool | None
    created: str

    @property
    def orphaned(self) -> bool:
        return self.owner_alive is False


def list_managed(api: Any) -> list[ManagedContainer]:
    try:
        rows = api.containers(all=True, filters={"label": f"{MANAGED}=true"})
    except DockerException as exc:
        raise SandboxError(f"cannot list sandbox containers: {exc}") from exc
    out = []
    for row in rows:
        labels = row.get("Labels") or {}
        out.append(
            ManagedContainer(
                id=row["Id"],
                name=(row.get("Names") or ["?"])[0].lstrip("/"),
                status=str(row.get("Status") or row.get("State") or ""),
                language=labels.get(LANGUAGE, ""),
                profile=labels.get(PROFILE, ""),
                call_id=labels.get(CALL_ID, ""),
                pool=labels.get(POOL) == "true",
                owner_pid=labels.get(OWNER_PID, ""),
                owner_host=labels.get(OWNER_HOST, ""),
                owner_alive=owner_alive(labels),
                created=str(row.get("Created", "")),
            )
        )
    return out


def reap(api: Any, *, everything: bool = False) -> list[ManagedContainer]:
    """Remove managed containers whose owning process is dead (``everything``: all managed ones)."""
    removed = []
    for container in list_managed(api):
        if everything or container.orphaned:
            try:
                remove(api, container.id)
            except DockerException as exc:
                raise SandboxError(f"cannot remove sandbox container {container.id[:12]}: {exc}") from exc
            removed.append(container)
    return removed


def reap_rw_orphans(api: Any, source: str) -> list[str]:
    """Remove the containers of dead owners that mount the workspace at ``source``, or a directory
    above or below it, read-write, and return their ids. Their code may still run (the server of a
    killed MCP launcher runs on): a rw container made meanwhile could mount what it swaps in, and the
    gate its owner held is gone."""
    try:
        rows = api.containers(all=True, filters={"label": f"{MANAGED}=true"})
    except DockerException as exc:
        raise SandboxError(f"cannot list sandbox containers before making a rw one: {exc}") from exc
    removed = []
    for row in rows:
        if owner_alive(row.get("Labels") or {}) is not False:
            continue
        if not any(
            _nested(str(m.get("Source", "")), source) and m.get("RW") for m in row.get("Mounts") or []
        ):
            continue
        try:
            remove(api, row["Id"])
        except DockerException as exc:
            raise SandboxError(
                f"cannot remove the orphaned rw sandbox container {row['Id'][:12]} on {source}: {exc}"
            ) from exc
        removed.append(row["Id"])
    return removed


def _nested(path: str, source: str) -> bool:
    """Whether ``path`` is ``source``, above it or below it (code there can reach into the other)."""
    if not path:
        return False
    return (
        path == source
        or f"{source.rstrip('/')}/".startswith(f"{path.rstrip('/')}/")
        or path.startswith(f"{source.rstrip('/')}/")
    )


def _own_filters() -> dict[str, list[str]]:
    labels = [f"{k}={v}" for k, v in owner_labels(current_owner()).items() if v]
    return {"label": [f"{MANAGED}=true", *labels]}


def own_container_ids(api: Any) -> list[str]:
    """Ids of every container this process started that the engine still has (one API call)."""
    rows = api.containers(all=True, quiet=True, filters=_own_filters())
    return [row["Id"] for row in rows]


def own_destroyed(api: Any) -> EngineDestroyed:
    """The engine's reports of this process's containers removed: one stream, no polling."""
    return EngineDestroyed(
        api.events(filters={**_own_filters(), "type": ["container"], "event": ["destroy"]}, decode=True)
    )
