"""Checking a container's ``docker inspect`` against the container-runtime items of the CIS Docker Benchmark.

Section numbers are those of CIS Docker Benchmark section 5 (container runtime) and 4.1 (user).
Items a profile explicitly loosens (network) are reported as waived, not as passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from agentguard.models import FrozenModel
from agentguard.sandbox._engine import sensitive_reason
from agentguard.sandbox_api import SandboxProfile

__all__ = ["HardeningItem", "check_hardening", "hardening_failures"]


class HardeningItem(FrozenModel):
    name: str
    cis: str
    ok: bool
    detail: str
    waived: bool = False


def _item(name: str, cis: str, ok: bool, detail: str, waived: bool = False) -> HardeningItem:
    return HardeningItem(name=name, cis=cis, ok=ok, detail=detail, waived=waived)


def check_hardening(attrs: Mapping[str, Any], profile: SandboxProfile | None = None) -> list[HardeningItem]:
    """Every hardening item for one container, from its ``docker inspect`` attributes."""
    host: Mapping[str, Any] = attrs.get("HostConfig") or {}
    config: Mapping[str, Any] = attrs.get("Config") or {}
    items: list[HardeningItem] = []

    items.append(
        _item(
            "not privileged", "5.4", not host.get("Privileged", False), f"Privileged={host.get('Privileged')}"
        )
    )

    drop = [c.upper() for c in host.get("CapDrop") or []]
    add = list(host.get("CapAdd") or [])
    items.append(
        _item(
            "all capabilities dropped, none added",
            "5.3",
            "ALL" in drop and not add,
            f"CapDrop={drop} CapAdd={add}",
        )
    )
    items.append(
        _item("read-only root filesystem", "5.12", host.get("ReadonlyRootfs") is True, "ReadonlyRootfs")
    )

    net = str(host.get("NetworkMode") or "")
    if profile is not None and profile.network is True:
        items.append(
            _item("network none", "5.29", net != "host", f"NetworkMode={net} (profile enables network)", True)
        )
    else:
        items.append(_item("network none", "5.29", net == "none", f"NetworkMode={net}"))

    memory = int(host.get("Memory") or 0)
    swap = int(host.get("MemorySwap") or 0)
    items.append(
        _item(
            "memory limited, swap equal to memory",
            "5.10",
            memory > 0 and swap == memory,
            f"Memory={memory} MemorySwap={swap}",
        )
    )
    cpu = int(host.get("NanoCpus") or 0) or int(host.get("CpuQuota") or 0)
    items.append(
        _item(
            "CPU limited", "5.11", cpu > 0, f"NanoCpus={host.get('NanoCpus')} CpuQuota={host.get('CpuQuota')}"
        )
    )
    pids = int(host.get("PidsLimit") or 0)
    items.append(_item("pids limited", "5.28", pids > 0, f"PidsLimit={pids}"))

    secopts = [str(s) for s in host.get("SecurityOpt") or []]
    nnp = any(s.replace("=", ":") in ("no-new-privileges", "no-new-privileges:true") for s in secopts)
    items.append(_item("no-new-privileges", "5.25", nnp, f"SecurityOpt={secopts}"))
    unconfined = any(s.replace("=", ":").startswith("seccomp:unconfined") for s in secopts)
    items.append(
        _item(
            "default seccomp profile",
            "5.21",
            not unconfined,
            "seccomp not disabled" if not unconfined else "seccomp=unconfined",
        )
    )

    bad_mounts = []
    # /workspace may be writable only where the profile mounts it rw (unknown profile: as before),
    # and below it only a directory of that workspace bound onto itself (pinned: see _protect).
    writable = _writable(attrs) if profile is None or profile.workspace == "rw" else {}
    for mount in attrs.get("Mounts") or []:
        source = str(mount.get("Source") or "")
        why = sensitive_reason(source) if mount.get("Type") == "bind" else None
        if why or (mount.get("RW") and writable.get(str(mount.get("Destination"))) != source):
            bad_mounts.append(f"{source}->{mount.get('Destination')} ({why or 'writable'})")
    for bind in host.get("Binds") or []:
        why = sensitive_reason(str(bind).split(":", 1)[0])
        if why:
            bad_mounts.append(f"{bind} ({why})")
    items.append(
        _item(
            "no docker socket or sensitive host path mounted",
            "5.5, 5.31",
            not bad_mounts,
            "; ".join(bad_mounts) or f"{len(attrs.get('Mounts') or [])} mount(s), none sensitive",
        )
    )

    user = str(config.get("User") or "")
    uid = user.split(":", 1)[0]
    items.append(
        _item(
            "non-root user",
            "4.1",
            bool(uid) and uid not in ("0", "root"),
            f"User={user or '(image default: root)'}",
        )
    )

    shared = {
        key: host.get(key)
        for key in ("PidMode", "IpcMode", "UTSMode", "UsernsMode", "NetworkMode", "CgroupnsMode")
        if str(host.get(key) or "") == "host"
    }
    items.append(
        _item(
            "no host PID/IPC/UTS/user/cgroup namespace",
            "5.9, 5.15, 5.16, 5.20, 5.30",
            not shared,
            f"shared with host: {shared}" if shared else "all namespaces private",
        )
    )
    devices = host.get("Devices") or []
    items.append(_item("no host devices", "5.17", not devices, f"Devices={devices}"))
    return items


def _writable(attrs: Mapping[str, Any]) -> dict[str, str]:
    """Destination -> source of each mount that may be writable: /workspace, and its self-binds."""
    mounts = list(attrs.get("Mounts") or [])
    root = next((str(m.get("Source")) for m in mounts if m.get("Destination") == "/workspace"), None)
    if root is None:
        return {}
    allowed = {"/workspace": root}
    for mount in mounts:
        dest = str(mount.get("Destination") or "")
        rel = PurePosixPath(dest).relative_to("/workspace") if dest.startswith("/workspace/") else None
        if rel is not None and ".." not in rel.parts and mount.get("Type") == "bind":
            allowed[dest] = str(PurePosixPath(root) / rel)
    return allowed


def hardening_failures(items: list[HardeningItem]) -> list[HardeningItem]:
    return [item for item in items if not item.ok]
