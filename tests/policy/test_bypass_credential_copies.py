"""The shipped policies ask for (default) or deny (read-only, mcp-desktop) credential files by name.
Other names held the same secrets and were read without a word:

* the copies editors and tools leave beside a file: ``.env~`` (Emacs, ``cp --backup``), ``..env.swp``
  (Vim's swap file holds the text), ``#.env#`` (Emacs auto-save), ``server.key.bak``, ``.orig``;
* git's other configuration files: ``.git/modules/<sub>/config`` (a submodule's own ``.git/config``:
  a CI checkout writes its token there too) and ``config.worktree``;
* credential stores the home-directory list names but the workspace list did not (``.config/rclone``,
  ``.config/hub``), and well-known key files (``*.p8``, ``.dev.vars``, ``secrets.toml`` ...).

The class test reads the name lists out of ``policy.csv`` itself, so a name added to one list and
not the other fails here."""

from __future__ import annotations

import re
from pathlib import Path

import bracex
import pytest

from agentguard.models import Effect
from agentguard.policy import PolicyEngine

from .conftest import EXAMPLES, PERMISSIONS, decide

POLICY = PERMISSIONS / "policy.csv"

# (tool, arguments key, effect a credential file gets) for each shipped policy with a credential list.
SHIPPED = [
    (PERMISSIONS, "fs.read", Effect.ASK),
    (EXAMPLES / "read-only", "fs.read", Effect.DENY),
    (EXAMPLES / "mcp-desktop", "mcp.filesystem.read_text_file", Effect.DENY),
]

HIDDEN = [
    ".env~",
    "..env.swp",
    "app/..env.swo",
    "#.env#",
    "app/.env.local~",
    "certs/server.key.bak",
    "certs/.server.key.swp",
    "certs/server.pem.orig",
    "deploy/credentials.json.old",
    "deploy/credentials.bak",
    "k8s/kubeconfig~",
    ".npmrc~",
    ".git/modules/lib/config",
    ".git/modules/lib/modules/inner/config",
    ".git/worktrees/feature/config.worktree",
    ".git/config.worktree",
    "home/.config/rclone/rclone.conf",
    "home/.config/hub",
    ".dev.vars",
    ".streamlit/secrets.toml",
    "config/secrets.json",
    "serviceAccountKey.json",
    "keys/service-account-prod.json",
    "AuthKey_ABC123DEFG.p8",
    # review: copies named with other separators (cp name name-old, Finder's "name copy", Explorer's
    # "name - Copy", a browser's "name (1)") and git's own copies of its config (config.lock while
    # git config writes, a user's config.bak)
    ".env-old",
    ".env_backup",
    ".env copy",
    ".env - Copy",
    ".env (1)",
    "certs/server.key-2023",
    ".npmrc_old",
    "deploy/credentials-old",
    "deploy/credentials copy",
    "k8s/kubeconfig_backup",
    ".git/config.lock",
    ".git/config~",
    ".git/config.bak",
    ".git/modules/lib/config.orig",
]

ORDINARY = [
    "src/app.py",
    "notes.txt~",
    "src/.app.py.swp",
    "#notes.md#",
    "keyboard.py.bak",
    "env.py",
    ".git/HEAD",
    ".git/modules/lib/HEAD",
    "docs/config",
    "accounts.json",
    "app/credentials.py",  # code, not a credentials file
    "k8s/kubeconfig.go",
    "app/credentials_test.py",
    "k8s/kubeconfig-loader.ts",
    "src/environment.ts",
    "src/vite-env.d.ts",
    ".git/description",
    ".git/modules/lib/configure",
    "keys.go",
]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.mark.parametrize(("directory", "tool", "effect"), SHIPPED, ids=lambda v: getattr(v, "name", str(v)))
def test_copies_and_other_names_of_credentials_are_not_read_silently(
    directory: Path, tool: str, effect: Effect, workspace: Path
) -> None:
    engine = PolicyEngine.load(directory, workspace=workspace)
    got = {p: decide(engine, tool, path=str(workspace / p)).effect for p in HIDDEN}
    assert {p: e for p, e in got.items() if e is not effect} == {}


@pytest.mark.parametrize(("directory", "tool", "effect"), SHIPPED, ids=lambda v: getattr(v, "name", str(v)))
def test_ordinary_files_are_still_read(directory: Path, tool: str, effect: Effect, workspace: Path) -> None:
    engine = PolicyEngine.load(directory, workspace=workspace)
    got = {p: decide(engine, tool, path=str(workspace / p)).effect for p in ORDINARY}
    assert {p: e for p, e in got.items() if e is not Effect.ALLOW} == {}


def _brace_list(line_start: str) -> list[str]:
    """The names of the ``{a,b,...}`` list that follows ``line_start`` in policy.csv."""
    line = next(x for x in POLICY.read_text().splitlines() if x.startswith(line_start))
    body = line[len(line_start) :]
    return bracex.expand("{" + re.match(r"([^}]*)}", body).group(1) + "}")  # type: ignore[union-attr]


def _concrete(name: str) -> str:
    return name.replace("**", "x").replace("*", "x")


def test_every_home_credential_name_is_asked_for_inside_the_workspace(workspace: Path) -> None:
    """A checked-out home directory or dotfiles repository holds the same files as ``~``."""
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace)
    home_names = _brace_list('p, *, fs.*, path(path, "{home}/{')
    assert len(home_names) > 20
    silent = []
    for name in home_names:
        if decide(engine, "fs.read", path=str(workspace / "dotfiles" / name)).effect is not Effect.ASK:
            silent.append(name)
    assert silent == []


def test_every_credential_file_name_is_asked_for_in_its_editor_copies(workspace: Path) -> None:
    engine = PolicyEngine.load(PERMISSIONS, workspace=workspace)
    names = [n for n in _brace_list('p, *, fs.read, path(path, "{workspace}/**/{') if "/" not in n]
    assert ".env" in names
    assert "*.pem" in names
    silent = []
    for name in map(_concrete, names):
        for copy in (f"{name}~", f".{name}.swp", f"#{name}#", f"{name}.bak", f"{name}.orig"):
            if decide(engine, "fs.read", path=str(workspace / "d" / copy)).effect is not Effect.ASK:
                silent.append(copy)
    assert silent == []
