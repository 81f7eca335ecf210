"""Sandbox limits as frozen value objects with secure defaults.

What cannot be loosened is not a field: every container runs with a read-only root filesystem,
all capabilities dropped, ``no-new-privileges``, the engine's default seccomp profile and a
non-root user. What can be loosened is a field whose default is the tight value, and
:meth:`SandboxProfile.loosenings` names every field that differs, so the audit record of a call
says exactly how far its sandbox was opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["Language", "SandboxProfile", "SandboxSettings", "WorkspaceMode"]

Language = Literal["python", "shell"]
WorkspaceMode = Literal["none", "ro", "rw"]

LANGUAGES: tuple[Language, ...] = ("python", "shell")


class SandboxProfile(BaseModel):
    """How one execution is confined. Every default is the safe one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    network: bool = Field(default=False, description="False: network_mode=none (only loopback exists).")
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
        if self.network:
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


class SandboxSettings(BaseModel):
    """The ``[sandbox]`` section of agentguard.toml; ``[sandbox.profiles.NAME]`` defines named profiles."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_profile: str = "default"
    pool_size: int = Field(
        default=2, ge=0, le=64, description="Warm containers kept per language and profile."
    )
    pool_languages: tuple[Language, ...] = Field(
        default=LANGUAGES, description="Languages whose default-profile pool is filled at start."
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
