"""Profiles, settings and container configuration: no engine needed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import docker
import pytest
from pydantic import ValidationError

from agentguard.errors import ConfigError, SandboxError
from agentguard.sandbox import SandboxProfile, SandboxSettings, check_hardening
from agentguard.sandbox._container import PoolKey, check_workspace, container_config
from agentguard.sandbox._engine import CALL_ID, MANAGED, OWNER_HOST, OWNER_PID, OWNER_START
from agentguard.settings import load_settings


def test_defaults_are_the_tight_ones() -> None:
    p = SandboxProfile()
    assert p.network is False
    assert p.workspace == "none"
    assert (p.memory_mb, p.pids, p.timeout_s, p.tmpfs_mb, p.file_size_mb) == (256, 64, 10.0, 64, 16)
    assert p.loosenings() == []


def test_profile_is_frozen_and_rejects_unknown_fields() -> None:
    p = SandboxProfile()
    with pytest.raises(ValidationError):
        p.memory_mb = 1024  # type: ignore[misc]
    with pytest.raises(ValidationError, match="privileged"):
        SandboxProfile(privileged=True)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        SandboxProfile(pids=0)


def test_every_loosening_is_named_and_tightening_is_not() -> None:
    loose = SandboxProfile(network=True, workspace="rw", memory_mb=1024, timeout_s=60, pids=256)
    text = loose.loosenings()
    assert "network enabled (bridge network instead of none)" in text
    assert "workspace mounted read-write at /workspace" in text
    assert "memory_mb raised to 1024 MB (default 256)" in text
    assert "timeout_s raised to 60 s (default 10)" in text
    assert "pids raised to 256 processes (default 64)" in text
    assert len(text) == 5
    assert SandboxProfile(memory_mb=64, timeout_s=1, pids=16).loosenings() == []
    assert SandboxProfile(workspace="ro").loosenings() == ["workspace mounted read-only at /workspace"]


def test_settings_keep_the_default_profile_and_check_names() -> None:
    s = SandboxSettings(profiles={"ws": SandboxProfile(workspace="ro")})
    assert s.profiles["default"] == SandboxProfile()
    assert s.profile(None) == SandboxProfile()
    assert s.profile("ws").workspace == "ro"
    with pytest.raises(ValidationError, match="not a defined profile"):
        SandboxSettings(default_profile="missing")
    with pytest.raises(ValidationError, match="profile name"):
        SandboxSettings(profiles={"bad name": SandboxProfile()})


def test_profiles_come_from_agentguard_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "agentguard.toml"
    cfg.write_text(
        "[sandbox]\npool_size = 1\n\n[sandbox.profiles.workspace-rw]\nworkspace = 'rw'\nmemory_mb = 512\n",
        encoding="utf-8",
    )
    settings = load_settings(cfg, env={})
    prof = settings.sandbox.profiles["workspace-rw"]
    assert prof.workspace == "rw"
    assert prof.memory_mb == 512
    assert settings.sandbox.pool_size == 1
    assert "default" in settings.sandbox.profiles

    cfg.write_text("[sandbox.profiles.x]\nmemory_mb = 'lots'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sandbox\.profiles\.x\.memory_mb"):
        load_settings(cfg, env={})


@pytest.mark.parametrize("path", ["/", "/etc", "/var/run", "/proc/1", "/root"])
def test_sensitive_workspaces_are_refused(path: str) -> None:
    with pytest.raises(SandboxError, match="refusing to mount"):
        check_workspace(Path(path), "rw")


def test_workspace_needed_for_workspace_profiles(tmp_path: Path) -> None:
    assert check_workspace(None, "none") is None
    with pytest.raises(SandboxError, match="no workspace"):
        check_workspace(None, "ro")
    assert check_workspace(tmp_path, "ro") == str(tmp_path.resolve())


def _config(profile: SandboxProfile, workspace: Path | None = None, call_id: str | None = "c1") -> dict:
    api = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")  # builds configs offline
    key = PoolKey("python", "p", profile)
    return container_config(api, image="img", key=key, workspace=workspace, call_id=call_id)


def test_container_config_carries_every_hardening_item() -> None:
    cfg = _config(SandboxProfile())
    host = cfg["host_config"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert not host.get("CapAdd")
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["Memory"] == host["MemorySwap"] == 256 * 1024 * 1024
    assert host["NanoCpus"] == 1_000_000_000
    assert host["PidsLimit"] == 64
    assert host["Tmpfs"]["/tmp"].startswith("rw,nosuid,nodev,noexec,size=64m")
    assert {u["Name"]: u["Hard"] for u in host["Ulimits"]}["fsize"] == 16 * 1024 * 1024
    assert host["LogConfig"]["Type"] == "none"
    assert cfg["user"] == "10001:10001"
    assert cfg["labels"][MANAGED] == "true"
    assert cfg["labels"][CALL_ID] == "c1"
    assert {OWNER_PID, OWNER_HOST, OWNER_START} <= set(cfg["labels"])
    # The same check that `sandbox doctor` applies to a live container passes on the config.
    items = check_hardening({"HostConfig": host, "Config": {"User": cfg["user"]}, "Mounts": []})
    assert [i.name for i in items if not i.ok] == []


def test_workspace_mount_follows_the_profile(tmp_path: Path) -> None:
    ro = _config(SandboxProfile(workspace="ro"), tmp_path)["host_config"]["Mounts"]
    assert ro == [
        {"Target": "/workspace", "Source": str(tmp_path.resolve()), "Type": "bind", "ReadOnly": True}
        | {k: v for k, v in ro[0].items() if k not in ("Target", "Source", "Type", "ReadOnly")}
    ]
    rw = _config(SandboxProfile(workspace="rw"), tmp_path)["host_config"]["Mounts"]
    assert rw[0]["ReadOnly"] is False
    assert _config(SandboxProfile(), tmp_path)["host_config"].get("Mounts") in (None, [])
    assert _config(SandboxProfile(network=True))["host_config"]["NetworkMode"] == "bridge"


def test_a_workspace_holding_a_sensitive_path_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "mounting one, or any ancestor of one, is refused": /var/lib holds /var/lib/docker, and a
    # directory above the home directory holds the keys in it. HOME may be a symlink: the workspace
    # is compared resolved, so the home directory must be too.
    real = tmp_path / "users" / "alice"
    real.mkdir(parents=True)
    link = tmp_path / "home-link"
    link.symlink_to(real)
    monkeypatch.setenv("HOME", str(link))
    for path in (real, tmp_path / "users", tmp_path, Path("/var/lib")):
        with pytest.raises(SandboxError, match="refusing to mount"):
            check_workspace(path, "ro")
    (real / "project").mkdir()
    assert check_workspace(real / "project", "ro") == str(real / "project")


def test_a_temp_directory_is_not_a_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # /tmp holds every container's egress proxy socket (a network=none container could connect
    # through another call's, decided as that call's agent), X11 and other programs' sockets.
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    for path in (Path("/tmp"), Path("/var/tmp"), temp, tmp_path):
        with pytest.raises(SandboxError, match="refusing to mount"):
            check_workspace(path, "ro")
    (tmp_path / "project").mkdir()
    assert check_workspace(tmp_path / "project", "ro") == str((tmp_path / "project").resolve())
