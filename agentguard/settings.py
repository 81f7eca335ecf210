"""Settings: ``agentguard.toml``, then environment variables, then flags (later wins).

Every section is a frozen, typed model with a safe default, so a typo in the file is a
``ConfigError`` naming the file and field rather than a silently ignored key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from agentguard.errors import ConfigError
from agentguard.models import Effect, FrozenModel
from agentguard.sandbox_api import SandboxSettings

__all__ = [
    "GRANTS_FILE",
    "ApprovalSettings",
    "AuditSettings",
    "Durability",
    "PolicySettings",
    "Settings",
    "load_settings",
]

SETTINGS_FILE = "agentguard.toml"
GRANTS_FILE = "grants.csv"
"""Standing approvals, as policy rules, in ``<home>``: written by the approval store, read by the policy."""
DEFAULT_POLICY_DIR = Path(__file__).parent / "_defaults" / "permissions"


class Durability(StrEnum):
    """``fsync``: every audit record reaches the disk before the call goes on. ``batch``: faster."""

    FSYNC = "fsync"
    BATCH = "batch"


class AuditSettings(FrozenModel):
    durability: Durability = Durability.FSYNC
    batch_size: int = Field(default=4096, ge=1, le=100_000)
    file: str = "audit.jsonl"
    # With ``database_url``: also write every record to ``file`` on this host (first, so a call whose
    # database write fails is still audited here).
    local_copy: bool = True


class ApprovalSettings(FrozenModel):
    timeout_s: float = Field(default=300.0, gt=0)
    on_timeout: Effect = Effect.DENY

    @field_validator("on_timeout")
    @classmethod
    def _not_ask(cls, v: Effect) -> Effect:
        if v is Effect.ASK:
            raise ValueError("on_timeout must be 'deny' or 'allow'")
        return v


class PolicySettings(FrozenModel):
    """``case_insensitive_paths``: whether ``path()`` rules fold case (``.ENV`` is ``.env`` on macOS,
    Windows and some mounts). ``"auto"`` probes the workspace's file system when the policy loads."""

    case_insensitive_paths: bool | Literal["auto"] = "auto"
    # "database": the newest version pushed with `agentguard policy push` (needs database_url)
    source: Literal["files", "database"] = "files"


class Settings(FrozenModel):
    home: Path = Field(default_factory=lambda: Path.home() / ".agentguard")
    policy_dir: Path | None = None
    workspace: Path = Field(default_factory=Path.cwd)
    default_effect: Effect = Effect.DENY
    agent: str = "agent"
    audit: AuditSettings = AuditSettings()
    approval: ApprovalSettings = ApprovalSettings()
    policy: PolicySettings = PolicySettings()
    sandbox: SandboxSettings = SandboxSettings()
    # ``postgresql://...``: the approval queue, grants and audit log live in that database, shared by
    # every host (docs/deployment.md). Unset: SQLite and files under ``home``.
    database_url: str | None = None

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if not v.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return v

    @property
    def audit_path(self) -> Path:
        return self.home / self.audit.file

    @property
    def grants_path(self) -> Path:
        return self.home / GRANTS_FILE

    def guard_paths(self) -> tuple[Path, ...]:
        """What decides or records the next calls: kept read-only where a rw sandbox workspace holds it
        (the policy directory, the settings files, the state directory and the audit log), or that
        a rw sandbox must not create (``./permissions/model.conf`` makes ``./permissions`` the
        policy of the next start)."""
        return (
            self.resolved_policy_dir(),
            Path.cwd() / "permissions" / "model.conf",
            self.home,
            self.audit_path,
            # the checkpoint beside it (audit._chain.checkpoint_path): what shows records cut off the end
            self.audit_path.with_name(self.audit_path.name + ".head"),
            self.workspace / SETTINGS_FILE,
            Path.cwd() / SETTINGS_FILE,
        )

    def resolved_policy_dir(self) -> Path:
        """The configured policy directory, else ``./permissions``, else the shipped default."""
        if self.policy_dir is not None:
            return self.policy_dir
        local = Path.cwd() / "permissions"
        if (local / "model.conf").is_file():
            return local
        return DEFAULT_POLICY_DIR


_ENV = {
    "AGENTGUARD_HOME": ("home",),
    "AGENTGUARD_POLICY": ("policy_dir",),
    "AGENTGUARD_WORKSPACE": ("workspace",),
    "AGENTGUARD_AGENT": ("agent",),
    "AGENTGUARD_DEFAULT_EFFECT": ("default_effect",),
    "AGENTGUARD_AUDIT_DURABILITY": ("audit", "durability"),
    "AGENTGUARD_APPROVAL_TIMEOUT": ("approval", "timeout_s"),
    "AGENTGUARD_CASE_INSENSITIVE_PATHS": ("policy", "case_insensitive_paths"),
    "AGENTGUARD_DATABASE_URL": ("database_url",),
    "AGENTGUARD_POLICY_SOURCE": ("policy", "source"),
}


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        node = tree.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"setting {key!r} must be a table", field=".".join(path))
        tree = node
    tree[path[-1]] = value


def load_settings(
    config_file: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build settings from ``agentguard.toml`` (found in the cwd unless given), env, then ``overrides``.

    ``overrides`` keys are dotted (``"audit.durability"``); ``None`` values are ignored so
    unset CLI flags fall through.
    """
    env = os.environ if env is None else env
    tree: dict[str, Any] = {}
    source = "defaults"
    path = config_file if config_file is not None else Path.cwd() / SETTINGS_FILE
    if config_file is not None and not path.is_file():
        raise ConfigError(f"{path}: settings file not found", file=str(path))
    if path.is_file():
        source = str(path)
        try:
            tree = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}", file=str(path)) from exc
        base = path.parent
        for key in ("home", "policy_dir", "workspace"):
            if isinstance(tree.get(key), str):
                tree[key] = str((base / Path(tree[key]).expanduser()).resolve())
    for name, field_path in _ENV.items():
        if env.get(name):
            _set(tree, field_path, env[name])
            source = f"{source} + ${name}"
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set(tree, tuple(dotted.split(".")), value)
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid settings ({source}): {problems}", source=source) from exc
