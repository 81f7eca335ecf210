"""What agentguard knows about the sandbox without Docker: limits, a request, a result, the backend.

The core (settings, the guard, the built-in tools) imports only this module; the Docker machinery in
``agentguard.sandbox`` is loaded when something first runs code. ``SandboxBackend`` is the one-method
seam between the ``python.exec``/``shell.run`` tools and whatever runs the code: the Docker ``Sandbox``,
or ``agentguard.testing.FakeSandbox`` in tests.

Limits are frozen value objects with secure defaults.

What cannot be loosened is not a field: every container runs with a read-only root filesystem,
all capabilities dropped, ``no-new-privileges``, the engine's default seccomp profile and a
non-root user. What can be loosened is a field whose default is the tight value, and
:meth:`SandboxProfile.loosenings` names every field that differs, so the audit record of a call
says exactly how far its sandbox was opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pydantic import Field, field_validator, model_validator

from agentguard.models import FrozenModel

__all__ = [
    "EgressEndpoint",
    "EgressGate",
    "EndReason",
    "Language",
    "SandboxBackend",
    "SandboxProfile",
    "SandboxRequest",
    "SandboxResult",
    "SandboxSettings",
    "WorkspaceMode",
]

Language = Literal["python", "shell"]
WorkspaceMode = Literal["none", "ro", "rw"]

LANGUAGES: tuple[Language, ...] = ("python", "shell")


class SandboxProfile(FrozenModel):
    """How one execution is confined. Every default is the safe one."""

    network: bool | Literal["policy"] = Field(
        default=False,
        description='False: network_mode=none (only loopback exists). "policy": still no interface, but an '
        "egress proxy reached through a mounted socket decides every connection as a net.connect call. "
        "True: the default bridge, unrestricted.",
    )
    memory_mb: int = Field(default=256, ge=16, le=65_536, description="Memory limit; swap equals memory.")
    cpus: float = Field(default=1.0, gt=0, le=64, description="CPU quota in cores.")
    pids: int = Field(default=64, ge=8, le=32_768, description="Maximum number of processes and threads.")
    timeout_s: float = Field(default=10.0, gt=0, le=86_400, description="Wall-clock limit per execution.")
    output_bytes: int = Field(
        default=1_000_000, ge=1024, le=256_000_000, description="Cap on stdout and on stderr, each."
    )
    tmpfs_mb: int = Field(default=64, ge=1, le=65_536, description="Size of the writable /tmp.")
    file_size_mb: int = Field(default=16, ge=1, le=65_536, description="Largest file a process may write.")
    workspace: WorkspaceMode = Field(default="none", description="Mount the workspace at /workspace.")

    def loosenings(self) -> list[str]:
        """Each way this profile is more permissive than the defaults, as a sentence for the audit log."""
        base = _DEFAULT
        out: list[str] = []
        if self.network == "policy":
            out.append("network through the egress proxy (every connection decided as net.connect)")
        elif self.network:
            out.append("network enabled (bridge network instead of none)")
        if self.workspace == "ro":
            out.append("workspace mounted read-only at /workspace")
        elif self.workspace == "rw":
            out.append("workspace mounted read-write at /workspace")
        for name, unit in (
            ("memory_mb", "MB"),
            ("cpus", "cores"),
            ("pids", "processes"),
            ("timeout_s", "s"),
            ("output_bytes", "bytes"),
            ("tmpfs_mb", "MB"),
            ("file_size_mb", "MB"),
        ):
            value, default = getattr(self, name), getattr(base, name)
            if value > default:
                out.append(f"{name} raised to {value:g} {unit} (default {default:g})")
        return out


_DEFAULT = SandboxProfile()


_BUILTIN_PROFILES: dict[str, SandboxProfile] = {
    "default": SandboxProfile(),
    "workspace-ro": SandboxProfile(workspace="ro"),
    "workspace-rw": SandboxProfile(workspace="rw"),
}


class SandboxSettings(FrozenModel):
    """The ``[sandbox]`` section of agentguard.toml; ``[sandbox.profiles.NAME]`` defines named profiles."""

    default_profile: str = "default"
    pool_size: int = Field(
        default=2, ge=0, le=64, description="Warm containers kept per language and profile."
    )
    pool_languages: tuple[Language, ...] = Field(
        default=LANGUAGES, description="Languages whose default-profile pool is filled at start."
    )
    pool_fillers: int = Field(
        default=12,
        ge=1,
        le=32,
        description="Containers started at once to refill the pools (a filler also waits for its runner).",
    )
    pool_max_idle_s: float = Field(
        default=900.0, gt=0, description="A warm container older than this is replaced."
    )
    profiles: dict[str, SandboxProfile] = Field(default_factory=lambda: dict(_BUILTIN_PROFILES))
    image_prefix: str = Field(default="agentguard-sandbox", pattern=r"^[a-z0-9][a-z0-9._/-]*$")
    recipes_dir: Path | None = Field(default=None, description="Image recipes; default: the shipped ones.")
    base: Literal["auto", "debootstrap", "pull"] = Field(
        default="auto",
        description="auto: a local base image if present, else a debootstrapped Debian root filesystem.",
    )
    debian_mirror: str = "http://deb.debian.org/debian"
    debian_suite: str = "bookworm"
    docker_host: str | None = Field(
        default=None, description="Engine address; default: $DOCKER_HOST or the socket."
    )

    @field_validator("profiles")
    @classmethod
    def _keep_default(cls, profiles: dict[str, SandboxProfile]) -> dict[str, SandboxProfile]:
        # Defining other profiles must not remove the built-in ones the shipped policy names.
        return {**_BUILTIN_PROFILES, **profiles}

    @model_validator(mode="after")
    def _check_names(self) -> SandboxSettings:
        if self.default_profile not in self.profiles:
            known = ", ".join(sorted(self.profiles))
            raise ValueError(f"default_profile {self.default_profile!r} is not a defined profile ({known})")
        for name in self.profiles:
            if not name or not all(c.isalnum() or c in "-_." for c in name):
                raise ValueError(f"profile name {name!r}: use letters, digits, '-', '_' or '.'")
        return self

    def profile(self, name: str | None) -> SandboxProfile:
        """The named profile (``None``: the default one); ``KeyError`` if it is not defined."""
        return self.profiles[name or self.default_profile]


class EndReason(StrEnum):
    """Why the execution ended.

    ``exited``: the program ended by itself (any exit code, including death by a signal).
    ``timeout``: the wall-clock limit passed; the container was killed.
    ``oom``: the kernel killed the program for exceeding the memory limit.
    ``output_limit``: stdout or stderr passed its byte cap; the container was killed.
    ``error``: the sandbox itself failed (container died without a report, protocol error).
    """

    EXITED = "exited"
    TIMEOUT = "timeout"
    OOM = "oom"
    OUTPUT_LIMIT = "output_limit"
    ERROR = "error"


class SandboxResult(FrozenModel):
    """The outcome of one execution. ``exit_code`` is ``None`` when the program was killed by us."""

    exit_code: int | None
    stdout: str
    stderr: str
    duration_ms: float
    end_reason: EndReason
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    signal: int | None = None
    peak_memory_bytes: int | None = None
    cpu_time_ms: float | None = None
    language: str
    profile: str
    loosenings: tuple[str, ...] = ()
    call_id: str | None = None
    container_id: str | None = None
    warm: bool = False
    error: str | None = None
    # rw workspace: each .git or guard file the run made, renamed aside (what host git would run).
    quarantined: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """The program ran to its end and returned exit code 0."""
        return self.end_reason is EndReason.EXITED and self.exit_code == 0


@dataclass(frozen=True, slots=True)
class SandboxRequest:
    """One execution: ``code`` in ``language`` under the named ``profile`` (``None``: the default one)."""

    language: Language
    code: str
    profile: str | None = None
    call_id: str | None = None
    egress_owner: object | None = None
    """Whose connections a ``network = "policy"`` container makes (handed to :class:`EgressGate`)."""


EGRESS_SOCKET = "proxy.sock"  # the socket's name inside an endpoint's directory


class EgressEndpoint(Protocol):
    """One container's way out: a host directory holding the proxy's socket, mounted read-only."""

    @property
    def directory(self) -> str: ...

    def attach(self, owner: object | None) -> None:
        """Decide this container's new connections for ``owner`` from now on (``None``: refuse them)."""

    def settle(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the connections being handled to end; False if one is open."""

    def close(self) -> None: ...


@runtime_checkable
class EgressGate(Protocol):
    """Makes endpoints for ``network = "policy"`` containers (``agentguard.tools.egress.EgressProxy``)."""

    def open(self, uid: int) -> EgressEndpoint:
        """A new endpoint whose socket accepts only processes running as ``uid`` (the container's user)."""


@runtime_checkable
class SandboxBackend(Protocol):
    """Runs one request to its end. Raises ``SandboxError`` when it cannot run at all (engine
    unreachable, image missing, unknown profile); whatever the code itself does is in the result."""

    def execute(self, request: SandboxRequest) -> SandboxResult: ...
