"""Sandbox limits as frozen value objects with secure defaults (to be completed by the sandbox work)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SandboxProfile", "SandboxSettings"]


class SandboxProfile(BaseModel):
    """How one execution is confined. Every default is the safe one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    network: bool = False
    memory_mb: int = Field(default=256, ge=16)
    cpus: float = Field(default=1.0, gt=0)
    pids: int = Field(default=64, ge=8)
    timeout_s: float = Field(default=10.0, gt=0)
    output_bytes: int = Field(default=1_000_000, ge=1024)
    tmpfs_mb: int = Field(default=64, ge=1)
    file_size_mb: int = Field(default=16, ge=1)
    workspace: str = "none"  # none | ro | rw


class SandboxSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default_profile: str = "default"
    pool_size: int = Field(default=2, ge=0, le=64)
    profiles: dict[str, SandboxProfile] = Field(default_factory=lambda: {"default": SandboxProfile()})
