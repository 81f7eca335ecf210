"""One single-use container: its hardened configuration, start with stdio attached, one exchange."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docker.errors import APIError, DockerException, NotFound
from docker.types import LogConfig, Mount, Ulimit

from agentguard.errors import SandboxError
from agentguard.owner import current_owner
from agentguard.sandbox._engine import (
    CALL_ID,
    LANGUAGE,
    MANAGED,
    POOL,
    PROFILE,
    SANDBOX_UID,
    owner_labels,
    sensitive_reason,
)
from agentguard.sandbox._hardening import check_hardening
from agentguard.sandbox._network import policy_command, policy_environment, policy_mounts
from agentguard.sandbox._protect import WORKSPACE_TARGET, protected_mounts
from agentguard.sandbox._protocol import ResponseParser
from agentguard.sandbox_api import EgressEndpoint, EgressGate, Language, SandboxProfile

__all__ = [
    "Exchange",
    "Live",
    "PoolKey",
    "await_ready",
    "container_config",
    "exchange",
    "open_egress",
    "protected_mounts",
    "remove",
    "spawn",
]

RUNNER = ["python3", "-I", "-B", "/opt/agentguard/runner.py"]
_MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class PoolKey:
    language: Language
    profile_name: str
    profile: SandboxProfile


@dataclass(eq=False)
class Live:
    """A started container waiting for its code on stdin."""

    id: str
    key: PoolKey
    sock: socket.socket
    handle: Any
    parser: ResponseParser
    created: float = field(default_factory=time.monotonic)
    egress: EgressEndpoint | None = None  # network = "policy": this container's way out
    kept: tuple[str, ...] = ()  # a rw workspace's read-only paths and pins at creation (mount_key)

    def close_socket(self) -> None:
        for closer in (self.sock, self.handle, self.egress):
            with contextlib.suppress(OSError, AttributeError):
                closer.close()  # type: ignore[union-attr]


def check_workspace(workspace: Path | None, mode: str) -> str | None:
    """The host path to mount at /workspace for ``mode``, refusing sensitive paths (fail closed)."""
    if mode == "none":
        return None
    if workspace is None:
        raise SandboxError(
            f"the sandbox profile mounts the workspace ({mode}) but no workspace was given",
            workspace_mode=mode,
        )
    resolved = workspace.expanduser().resolve()
    if not resolved.is_dir():
        raise SandboxError(f"workspace {resolved} is not a directory", workspace=str(resolved))
    why = sensitive_reason(str(resolved))
    if why:
        raise SandboxError(f"refusing to mount workspace {resolved}: {why}", workspace=str(resolved))
    return str(resolved)


def container_user(workspace_source: str | None) -> str:
    """``uid:gid`` the container runs as: what it writes into the workspace belongs to its owner, not root."""
    if workspace_source is not None:
        st = os.stat(workspace_source)
        if st.st_uid != 0:
            return f"{st.st_uid}:{st.st_gid}"
    return SANDBOX_UID


def open_egress(gate: EgressGate | None, key: PoolKey, workspace: Path | None) -> EgressEndpoint | None:
    """The endpoint a ``network = "policy"`` container connects through (None for other profiles)."""
    if key.profile.network != "policy":
        return None
    if gate is None:
        raise SandboxError(
            f'sandbox profile {key.profile_name!r} sets network = "policy" but this Sandbox has no egress '
            "proxy (the guard's python.exec/shell.run give it one)",
            profile=key.profile_name,
        )
    source = check_workspace(workspace, key.profile.workspace)
    return gate.open(int(container_user(source).split(":", 1)[0]))


def container_config(
    api: Any,
    *,
    image: str,
    key: PoolKey,
    workspace: Path | None,
    call_id: str | None,
    pooled: bool = False,
    egress: EgressEndpoint | None = None,
    command: list[str] | None = None,
    protected: Iterable[Path] = (),
) -> dict[str, Any]:
    """``create_container`` arguments for ``key``: every hardening item, plus the given loosenings.

    ``command`` replaces the runner (an MCP server); ``egress`` is required for ``network = "policy"``;
    ``protected``: paths that stay read-only inside a rw workspace (see ``protected_mounts``).
    """
    p = key.profile
    source = check_workspace(workspace, p.workspace)
    mounts = []
    if source is not None:
        mounts.append(Mount(WORKSPACE_TARGET, source, type="bind", read_only=p.workspace == "ro"))
        if p.workspace == "rw":
            mounts.extend(protected_mounts(source, protected))
    argv = command if command is not None else [*RUNNER, key.language]
    environment = {"HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
    if p.network == "policy":
        if egress is None:
            raise SandboxError(
                'a network = "policy" profile needs the egress proxy', profile=key.profile_name
            )
        mounts.extend(policy_mounts(egress.directory))
        argv = policy_command(argv)
        environment.update(policy_environment())
    host_config = api.create_host_config(
        network_mode="bridge" if p.network is True else "none",
        read_only=True,
        tmpfs={"/tmp": f"rw,nosuid,nodev,noexec,size={p.tmpfs_mb}m,mode=1777"},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        privileged=False,
        pids_limit=p.pids,
        mem_limit=p.memory_mb * _MiB,
        memswap_limit=p.memory_mb * _MiB,
        nano_cpus=int(p.cpus * 1e9),
        ulimits=[
            Ulimit(name="fsize", soft=p.file_size_mb * _MiB, hard=p.file_size_mb * _MiB),
            Ulimit(name="core", soft=0, hard=0),
            Ulimit(name="nofile", soft=1024, hard=1024),
        ],
        ipc_mode="private",
        cgroupns="private",
        shm_size=min(p.tmpfs_mb, 16) * _MiB,
        log_config=LogConfig(type="none"),
        auto_remove=True,
        mounts=mounts,
        init=False,
    )
    user = container_user(source)
    owner = current_owner()
    labels = {
        MANAGED: "true",
        # A warm container is created before its call exists: its result carries the container id.
        CALL_ID: "pool" if pooled else (call_id or "none"),
        LANGUAGE: key.language,
        PROFILE: key.profile_name,
        POOL: "true" if pooled else "false",
        **owner_labels(owner),
    }
    return {
        "image": image,
        "command": argv,
        "user": user,
        "stdin_open": True,  # with detach=False the SDK also sets StdinOnce: stdin EOF reaches the runner
        "detach": False,
        "use_config_proxy": False,
        "tty": False,
        "working_dir": WORKSPACE_TARGET if source is not None else "/tmp",
        "environment": environment,
        "labels": labels,
        "host_config": host_config,
    }


def spawn(api: Any, config: dict[str, Any], key: PoolKey, *, ready_timeout_s: float = 60.0) -> Live:
    """Create, check the hardening, attach (before start: no output is missed), start, await "ready"."""
    try:
        cid = api.create_container(**config)["Id"]
    except NotFound as exc:
        raise SandboxError(
            f"sandbox image {config['image']} not found; run `agentguard sandbox build`",
            image=config["image"],
        ) from exc
    except Exception as exc:  # DockerException, or a requests error when the engine went away
        raise SandboxError(f"cannot create a sandbox container: {exc}", image=config["image"]) from exc
    handle: Any = None
    try:
        _verify(api, cid, key)
        handle = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        api.start(cid)
        raw = getattr(handle, "_sock", handle)
        live = Live(id=cid, key=key, sock=raw, handle=handle, parser=ResponseParser(key.profile.output_bytes))
        await_ready(live, ready_timeout_s)
    except BaseException as exc:
        with contextlib.suppress(OSError, AttributeError):
            handle.close()
        with contextlib.suppress(DockerException):
            api.remove_container(cid, force=True)
        if isinstance(exc, Exception) and not isinstance(exc, SandboxError):
            raise SandboxError(f"cannot start a sandbox container: {exc}", container=cid) from exc
        raise
    return live


def _verify(api: Any, cid: str, key: PoolKey) -> None:
    """Fail closed: a created container that does not pass the hardening check never starts."""
    failures = [i for i in check_hardening(api.inspect_container(cid), key.profile) if not i.ok]
    if failures:
        detail = "; ".join(f"{i.name} ({i.detail})" for i in failures)
        raise SandboxError(f"sandbox container failed the hardening check: {detail}", container=cid)


def await_ready(live: Live, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not live.parser.ready:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SandboxError(f"the sandbox runner did not start within {timeout_s:g}s", container=live.id)
        live.sock.settimeout(remaining)
        try:
            data = live.sock.recv(65536)
        except TimeoutError:
            continue
        except OSError as exc:
            raise SandboxError(
                f"lost the sandbox container while it started: {exc}", container=live.id
            ) from exc
        if not data:
            detail = live.parser.runner_stderr.decode("utf-8", "replace").strip()[-500:]
            raise SandboxError(
                f"the sandbox container exited while starting{': ' + detail if detail else ''}",
                container=live.id,
            )
        live.parser.feed(data)


@dataclass(slots=True)
class Exchange:
    parser: ResponseParser
    duration_ms: float
    sent: bool = True
    timed_out: bool = False
    eof: bool = False
    over_cap: bool = False
    failure: str | None = None


def exchange(live: Live, request: bytes, *, timeout_s: float, cap: int) -> Exchange:
    """Send the code, read until the runner's end report, the deadline, EOF or an overflowing stream."""
    parser = live.parser
    parser.cap = cap
    sock = live.sock
    start = time.perf_counter()
    deadline = start + timeout_s
    result = Exchange(parser=parser, duration_ms=0.0)
    try:
        sock.settimeout(timeout_s)
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
    except OSError as exc:
        result.sent = False
        result.failure = f"could not send the code to the container: {exc}"
        result.duration_ms = (time.perf_counter() - start) * 1000
        return result
    while parser.report is None:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            result.timed_out = True
            break
        sock.settimeout(remaining)
        try:
            data = sock.recv(262144)
        except TimeoutError:
            result.timed_out = True
            break
        except OSError as exc:
            result.failure = f"lost the container's output stream: {exc}"
            break
        if not data:
            result.eof = True
            break
        parser.feed(data)
        if parser.over_cap:
            result.over_cap = True  # the runner enforces the cap; this is the host's own backstop
            break
    result.duration_ms = (time.perf_counter() - start) * 1000
    return result


def remove(api: Any, cid: str, *, wait_s: float = 15.0) -> None:
    """Kill and remove; returns when the container is gone (auto-remove may already be under way)."""
    try:
        api.remove_container(cid, force=True)
        return
    except NotFound:
        return
    except APIError as exc:
        if exc.status_code != 409:
            raise
    try:
        api.wait(cid, timeout=wait_s, condition="removed")
    except NotFound:
        return
    except Exception:  # noqa: BLE001, S110 - a wait error falls through to a final forced removal
        pass
    try:
        api.remove_container(cid, force=True)
    except NotFound:
        return
